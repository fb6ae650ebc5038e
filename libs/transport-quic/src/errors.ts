/**
 * Typed errors of the QUIC transport. Every error carries a stable `code` so callers can
 * branch without string matching on messages.
 */

export type TransportErrorCode =
  | 'INVALID_OPTION'
  | 'INVALID_ADDRESS'
  | 'INVALID_NODE_ID'
  | 'CERTIFICATE'
  | 'FRAME'
  | 'DIAL_TIMEOUT'
  | 'HANDSHAKE_REJECTED'
  | 'HELLO_REJECTED'
  | 'DIAL_FAILED'
  | 'ENDPOINT_STOPPED';

export class TransportError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An option failed validation; `key` names it. */
export class InvalidOptionError extends TransportError {
  constructor(
    readonly key: string,
    rule: string,
  ) {
    super('INVALID_OPTION', `invalid option ${key}: ${rule}`);
  }
}

/** A "host:port" string could not be parsed. */
export class InvalidAddressError extends TransportError {
  constructor(
    readonly address: string,
    rule: string,
  ) {
    super('INVALID_ADDRESS', `invalid address ${JSON.stringify(address)}: ${rule}`);
  }
}

export class InvalidNodeIdError extends TransportError {
  constructor(readonly nodeId: string) {
    super(
      'INVALID_NODE_ID',
      `invalid node id ${JSON.stringify(nodeId)}: must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`,
    );
  }
}

/** Creating, reading or writing certificates / keys failed. */
export class CertificateError extends TransportError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CERTIFICATE', message, options);
  }
}

/** The QUIC handshake (plus application hello) did not finish within the dial timeout. */
export class DialTimeout extends TransportError {
  constructor(
    readonly address: string,
    readonly timeoutMs: number,
    readonly phase: 'handshake' | 'hello',
  ) {
    super('DIAL_TIMEOUT', `dial ${address} timed out after ${timeoutMs} ms (${phase})`);
  }
}

/**
 * The TLS handshake was refused: either we refused the server's certificate
 * (`by: 'local'`, reason is a `PeerVerifyFailure`) or the server refused ours
 * (`by: 'peer'`, reason decoded from the TLS alert when possible).
 */
export class HandshakeRejected extends TransportError {
  constructor(
    readonly address: string,
    readonly reason: string,
    readonly by: 'local' | 'peer',
  ) {
    super(
      'HANDSHAKE_REJECTED',
      by === 'local'
        ? `dial ${address}: we refused the peer certificate (${reason})`
        : `dial ${address}: the peer refused our certificate (${reason})`,
    );
  }
}

/** The application hello failed (wrong cluster, node id mismatch, protocol version …). */
export class HelloRejected extends TransportError {
  constructor(
    readonly address: string,
    readonly reason: string,
    readonly by: 'local' | 'peer',
  ) {
    super(
      'HELLO_REJECTED',
      by === 'local' ? `dial ${address}: we rejected the peer hello (${reason})` : `dial ${address}: the peer rejected our hello (${reason})`,
    );
  }
}

/** Any other dial failure (connection closed during the hello, bad target, socket error). */
export class DialFailed extends TransportError {
  constructor(
    readonly address: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('DIAL_FAILED', `dial ${address} failed: ${reason}`, options);
  }
}

export class EndpointStopped extends TransportError {
  constructor() {
    super('ENDPOINT_STOPPED', 'the QUIC endpoint is stopped');
  }
}

export type FrameErrorReason = 'oversize' | 'malformed' | 'truncated' | 'queue-full' | 'closed';

/** Framing failed: an over-size length, malformed input, a partial frame at end of stream … */
export class FrameError extends TransportError {
  constructor(
    readonly reason: FrameErrorReason,
    message: string,
  ) {
    super('FRAME', message);
  }
}
