// A REFERENCE for the transport benchmark, not a product: one HashiCorp memberlist node
// (the Go SWIM implementation the targets are measured against) in its own
// process, driven by the benchmark parent over stdin/stdout, one JSON object per line, in
// the same message shapes as the Node children (protocol.ts): start-nodes, sample, watch, stop.
// The parent runs it in the same cluster layout, window and machine hour as our nodes, so
// the two are compared in one run.
//
// Built by the benchmark (tools/bench/transport/memberlist-child.ts) from Debian's
// packages golang-go and golang-github-hashicorp-memberlist-dev, in GOPATH mode (offline).
// The node runs memberlist's DefaultLANConfig unchanged but for its name and address;
// with "encrypt" every message is AES-GCM encrypted under a 32-byte cluster key
// (memberlist's own SecretKey option). Its logs go to a filter that passes warnings and
// errors to stderr only.
//
// Figures: CPU from getrusage (the same counter as Node's process.cpuUsage), RSS from
// /proc/self/status, UDP payload bytes from memberlist's own metrics (memberlist.udp.sent
// counts every datagram it writes, memberlist.udp.received every one it reads), TCP
// payload bytes (push-pull, TCP fallback pings) counted on the stream connections of a
// thin wrapper around memberlist's NetTransport, probe round trips from its PingDelegate.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/memberlist"
)

// ─── counters ────────────────────────────────────────────────────────────────────────

// sink keeps memberlist's counters as running totals, and counts timer samples (one per
// probe round for memberlist.probeNode).
type sink struct {
	mu       sync.Mutex
	counters map[string]float64
	samples  map[string]float64
}

func key(k []string) string { return strings.Join(k, ".") }

func (s *sink) SetGauge(k []string, v float32)                                 {}
func (s *sink) SetGaugeWithLabels(k []string, v float32, l []metrics.Label)    {}
func (s *sink) EmitKey(k []string, v float32)                                  {}
func (s *sink) IncrCounterWithLabels(k []string, v float32, l []metrics.Label) { s.IncrCounter(k, v) }
func (s *sink) AddSampleWithLabels(k []string, v float32, l []metrics.Label)   { s.AddSample(k, v) }
func (s *sink) IncrCounter(k []string, v float32) {
	name := key(k)
	s.mu.Lock()
	s.counters[name] += float64(v)
	s.mu.Unlock()
	if strings.HasSuffix(name, "memberlist.msg.suspect") {
		watched.suspected()
	}
}
func (s *sink) AddSample(k []string, v float32) {
	s.mu.Lock()
	s.samples[key(k)]++
	s.mu.Unlock()
}

// counter returns the total of the counter whose key ends with suffix (the service prefix varies).
func (s *sink) counter(suffix string) float64 { return s.total(s.counters, suffix) }

// sampleCount returns how many timer samples were taken under a key ending with suffix.
func (s *sink) sampleCount(suffix string) int { return int(s.total(s.samples, suffix)) }

func (s *sink) total(m map[string]float64, suffix string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := 0.0
	for k, v := range m {
		if strings.HasSuffix(k, suffix) {
			t += v
		}
	}
	return t
}

var stats = &sink{counters: map[string]float64{}, samples: map[string]float64{}}

// tcpBytes counts payload bytes on memberlist's TCP streams, both ways.
var tcpOut, tcpIn atomic.Int64

type countingConn struct{ net.Conn }

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	tcpIn.Add(int64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	tcpOut.Add(int64(n))
	return n, err
}

// countingTransport is memberlist's NetTransport with its TCP connections counted.
type countingTransport struct {
	*memberlist.NetTransport
	streams chan net.Conn
}

func newCountingTransport(nt *memberlist.NetTransport) *countingTransport {
	t := &countingTransport{NetTransport: nt, streams: make(chan net.Conn)}
	go func() {
		for c := range nt.StreamCh() {
			t.streams <- countingConn{c}
		}
	}()
	return t
}

func (t *countingTransport) StreamCh() <-chan net.Conn { return t.streams }

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return countingConn{c}, nil
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return countingConn{c}, nil
}

// pings records probe round trips (ms) until the next sample takes them.
type pings struct {
	mu   sync.Mutex
	rtts []float64
	n    int
}

func (p *pings) AckPayload() []byte { return nil }
func (p *pings) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	p.mu.Lock()
	p.rtts = append(p.rtts, float64(rtt.Nanoseconds())/1e6)
	p.n++
	p.mu.Unlock()
}

func (p *pings) take() ([]float64, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rtts
	p.rtts = nil
	return r, p.n
}

// logFilter passes memberlist's warnings and errors to stderr and drops the rest.
type logFilter struct{}

func (logFilter) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("[WARN]")) || bytes.Contains(b, []byte("[ERR]")) {
		os.Stderr.Write(b)
	}
	return len(b), nil
}

// watch records when this node first saw one member (the benchmark's crash victim)
// suspect and failed, in ms since the epoch. memberlist 0.2.2 reports neither with the
// member's state: failed is its EventDelegate's NotifyLeave for that member (nobody leaves
// gracefully in the trials, so a leave is a death); suspect is the first alive → suspect
// transition after the watch began (memberlist counts each one in memberlist.msg.suspect),
// which in a trial is the victim's: no other member is down.
type watch struct {
	mu                  sync.Mutex
	id                  string
	suspectAt, failedAt float64
}

func (w *watch) NotifyJoin(*memberlist.Node)   {}
func (w *watch) NotifyUpdate(*memberlist.Node) {}
func (w *watch) NotifyLeave(n *memberlist.Node) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n.Name == w.id && w.failedAt == 0 {
		w.failedAt = nowMs()
	}
}

func (w *watch) suspected() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.id != "" && w.suspectAt == 0 {
		w.suspectAt = nowMs()
	}
}

func (w *watch) start(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.id, w.suspectAt, w.failedAt = id, 0, 0
}

func (w *watch) figures() map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.id == "" {
		return nil
	}
	out := map[string]any{"id": w.id}
	if w.suspectAt != 0 {
		out["suspectAt"] = w.suspectAt
	}
	if w.failedAt != 0 {
		out["failedAt"] = w.failedAt
	}
	return out
}

// ─── the node ────────────────────────────────────────────────────────────────────────

var (
	list    *memberlist.Memberlist
	probe   = &pings{}
	watched = &watch{}
)

type message struct {
	Seq   int      `json:"seq"`
	Type  string   `json:"type"`
	ID    string   `json:"id"` // watch
	Seeds []string `json:"seeds"`
	Nodes []struct {
		ID string `json:"id"`
	} `json:"nodes"`
	// Config: "encrypt" (a truthy value) turns memberlist's encryption on.
	Config map[string]any `json:"config"`
}

// clusterKey is the benchmark's fixed 32-byte key (AES-256-GCM): every node must share it.
var clusterKey = []byte("shoal-bench-memberlist-key-32byt")

func start(m message) ([]string, error) {
	if list != nil {
		return nil, fmt.Errorf("already started")
	}
	if len(m.Nodes) != 1 {
		return nil, fmt.Errorf("one node per process (got %d)", len(m.Nodes))
	}
	logger := log.New(logFilter{}, "", log.LstdFlags)
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: logger})
	if err != nil {
		return nil, err
	}
	conf := memberlist.DefaultLANConfig()
	conf.Name = m.Nodes[0].ID
	conf.BindAddr = "127.0.0.1"
	conf.BindPort = nt.GetAutoBindPort()
	conf.AdvertiseAddr = "127.0.0.1"
	conf.AdvertisePort = conf.BindPort
	conf.Transport = newCountingTransport(nt)
	conf.Ping = probe
	conf.Events = watched
	conf.Logger = logger
	if v, ok := m.Config["encrypt"]; ok && v != false && v != 0.0 {
		conf.SecretKey = clusterKey
	}
	list, err = memberlist.Create(conf)
	if err != nil {
		return nil, err
	}
	if len(m.Seeds) > 0 {
		if _, err := list.Join(m.Seeds); err != nil {
			return nil, fmt.Errorf("join %v: %w", m.Seeds, err)
		}
	}
	return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(conf.BindPort))}, nil
}

func cpuUs() (float64, float64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()) / 1e3, float64(ru.Stime.Nano()) / 1e3
}

// procStatus reads the memory lines of /proc/self/status, in bytes.
func procStatus() map[string]float64 {
	out := map[string]float64{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[strings.TrimSuffix(f[0], ":")] = v * 1024
			}
		}
	}
	return out
}

func nowMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

func sample() map[string]any {
	user, system := cpuUs()
	at := nowMs()
	status := procStatus()
	nodes := []map[string]any{}
	if list != nil {
		alive, suspect := 0, 0
		for _, n := range list.Members() {
			switch n.State {
			case memberlist.StateAlive:
				alive++
			case memberlist.StateSuspect:
				suspect++
			}
		}
		rtts, acks := probe.take()
		if rtts == nil {
			rtts = []float64{}
		}
		probes := stats.sampleCount("memberlist.probeNode")
		node := map[string]any{
			"id": list.LocalNode().Name, "alive": alive, "suspect": suspect, "failed": 0,
			"probes": probes, "probeSuccesses": acks, "probeFailures": 0, "indirectProbes": 0,
			"suspicions": int(stats.counter("memberlist.msg.suspect")), "failuresDeclared": int(stats.counter("memberlist.msg.dead")),
			"refutations": 0, "pushPulls": stats.sampleCount("memberlist.pushPullNode"),
			"sent":        map[string]any{"probe-round": probes, "gossip-round": stats.sampleCount("memberlist.gossip"), "push-pull": stats.sampleCount("memberlist.pushPullNode")},
			"rtts":        rtts,
			"messagesOut": 0, "messagesIn": 0, "frameBytesOut": 0, "sendFailures": 0,
			"poolOpen": 0, "poolDials": int(stats.counter("memberlist.tcp.connect")), "poolDialFailures": 0, "poolEvictions": 0,
			"poolIdleClosed": 0, "poolExhausted": 0, "poolInboundRefused": 0,
			"endpointInbound": 0, "endpointOutbound": 0, "endpointInboundTotal": 0, "endpointOutboundTotal": 0,
		}
		if w := watched.figures(); w != nil {
			node["watched"] = w
		}
		nodes = append(nodes, node)
	}
	udpOut := stats.counter("memberlist.udp.sent")
	udpIn := stats.counter("memberlist.udp.received")
	s := map[string]any{
		"pid": os.Getpid(), "at": at, "cpuUserUs": user, "cpuSystemUs": system,
		"rss": status["VmRSS"], "procStatus": status, "threadTicks": map[string]any{},
		"v8PhysicalBytes": 0, "v8MallocedBytes": 0, "heapUsed": 0, "external": 0, "held": 0,
		"udp": map[string]any{
			"txBytes": udpOut + float64(tcpOut.Load()), "rxBytes": udpIn + float64(tcpIn.Load()),
			"txDatagrams": 0, "rxDatagrams": 0,
			"udpTxBytes": udpOut, "udpRxBytes": udpIn, "tcpTxBytes": tcpOut.Load(), "tcpRxBytes": tcpIn.Load(),
		},
		"nodes": nodes,
	}
	s["atAfter"] = nowMs()
	userAfter, systemAfter := cpuUs()
	s["cpuAfterUs"] = userAfter + systemAfter
	return s
}

// ─── the parent's channel ────────────────────────────────────────────────────────────

var outMu sync.Mutex

func reply(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"seq": v["seq"], "type": "error", "error": err.Error()})
	}
	outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

func main() {
	cfg := metrics.DefaultConfig("")
	cfg.EnableHostname = false
	cfg.EnableRuntimeMetrics = false // no collector goroutine waking every second
	if _, err := metrics.NewGlobal(cfg, stats); err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
	if ms, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_CHILD_MAX_MS")); err == nil && ms > 0 {
		time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
			fmt.Fprintf(os.Stderr, "memberlist child %d: lifetime cap reached, exiting\n", os.Getpid())
			os.Exit(3)
		})
	}
	reply(map[string]any{"type": "ready"})
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var m message
			if jerr := json.Unmarshal(line, &m); jerr != nil {
				reply(map[string]any{"type": "error", "error": "bad message: " + jerr.Error()})
			} else {
				handle(m)
			}
		}
		if err == io.EOF {
			os.Exit(2) // the parent went away
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "stdin:", err)
			os.Exit(2)
		}
	}
}

func handle(m message) {
	switch m.Type {
	case "start-nodes":
		addrs, err := start(m)
		if err != nil {
			reply(map[string]any{"seq": m.Seq, "type": "error", "error": err.Error()})
			return
		}
		reply(map[string]any{"seq": m.Seq, "type": "ok", "addresses": addrs})
	case "watch":
		watched.start(m.ID)
		reply(map[string]any{"seq": m.Seq, "type": "ok"})
	case "sample":
		reply(map[string]any{"seq": m.Seq, "type": "ok", "sample": sample()})
	case "stop":
		if list != nil {
			_ = list.Shutdown()
		}
		reply(map[string]any{"seq": m.Seq, "type": "ok"})
		os.Exit(0)
	default:
		reply(map[string]any{"seq": m.Seq, "type": "error", "error": "not supported by the memberlist child: " + m.Type})
	}
}
