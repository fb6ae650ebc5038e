import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import path from 'node:path';

const here = import.meta.dirname;

describe('process lifetime', () => {
  it('a process that starts two endpoints, exchanges a frame and stops them exits by itself', async () => {
    const child = spawn(process.execPath, ['--import', path.join(here, 'register-ts.mjs'), path.join(here, 'child-two-endpoints.ts')], {
      cwd: path.join(here, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadlineMs = 20_000;
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      new Promise<{ code: number | null; exitedAt: number }>((resolve) => child.on('exit', (code) => resolve({ code, exitedAt: Date.now() }))),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), deadlineMs))),
    ]);
    clearTimeout(timer);
    if (result === 'timeout') {
      child.kill('SIGKILL');
      throw new Error(`child did not exit within ${deadlineMs} ms; stdout=${stdout} stderr=${stderr}`);
    }
    expect({ code: result.code, stderr: stderr.replace(/\(node:\d+\) ExperimentalWarning.*\n|\(Use `node --trace-warnings.*\n/g, '') }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toContain('exchanged ping');
    const stoppedAt = Number(/stopped (\d+)/.exec(stdout)?.[1]);
    // Nothing keeps the loop alive after stop(): the exit follows promptly.
    expect(result.exitedAt - stoppedAt).toBeLessThan(3000);
  }, 30_000);
});
