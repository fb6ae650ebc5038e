/**
 * The memberlist reference (../memberlist/main.go): HashiCorp's Go SWIM library, the
 * implementation the targets are measured against, run as benchmark children in
 * the same cluster layout and window as our nodes. Built here on first use, offline, from
 * Debian's packages (GOPATH mode, no module downloads):
 *
 *   apt-get install golang-go golang-github-hashicorp-memberlist-dev
 *
 * The build goes to ../memberlist/dist/ and is redone when main.go is newer than it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { findRoot } from '../lib/docs.js';

/** Where Debian's golang-*-dev packages put their sources (a GOPATH). */
const DEBIAN_GOPATH = '/usr/share/gocode';
const MEMBERLIST_SRC = path.join(DEBIAN_GOPATH, 'src/github.com/hashicorp/memberlist');
export const MEMBERLIST_INSTALL = 'apt-get install golang-go golang-github-hashicorp-memberlist-dev';

/** The versions the build uses: Debian's memberlist package and Go. */
export function memberlistVersion(): { package: string; go: string } {
  const run = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  return { package: run('dpkg-query', ['-W', '-f=${Version}', 'golang-github-hashicorp-memberlist-dev']), go: run('go', ['env', 'GOVERSION']) };
}

/** Builds the memberlist child if needed and returns its path; a clear error says what to install. */
export function memberlistProgram(): string {
  const src = path.join(findRoot(), 'tools', 'bench', 'memberlist');
  const out = path.join(src, 'dist', 'memberlist-child');
  const main = path.join(src, 'main.go');
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(main).mtimeMs) return out;
  let goVersion: string;
  try {
    goVersion = execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`the memberlist reference needs Go and memberlist's sources: ${MEMBERLIST_INSTALL}`);
  }
  if (!existsSync(MEMBERLIST_SRC)) throw new Error(`memberlist's sources are not in ${MEMBERLIST_SRC}: ${MEMBERLIST_INSTALL}`);
  mkdirSync(path.dirname(out), { recursive: true });
  execFileSync('go', ['build', '-o', out, '.'], {
    cwd: src,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, GOPATH: DEBIAN_GOPATH, GO111MODULE: 'off', GOCACHE: process.env['GOCACHE'] ?? path.join(src, 'dist', '.gocache') },
  });
  process.stderr.write(`built the memberlist reference with ${goVersion}, memberlist ${memberlistVersion().package}\n`);
  return out;
}
