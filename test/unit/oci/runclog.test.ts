// Replays containerd's getLastRuntimeError (cmd/containerd-shim-runc-v2/process/utils.go): the
// whole --log file is decoded as a stream of JSON objects {level,msg,time}; the last msg with
// level "error" wins; any decode error (non-JSON byte, bad time) loses the message entirely.
import { mkdtempSync, readFileSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorLine, reportFailure, userMessage } from '../../../src/oci/runclog.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** containerd's decoder, strictly: json.Decoder over the stream, Time must parse as RFC3339. */
function lastRuntimeError(stream: string): { msg: string } | { decodeError: string } {
  let rest = stream;
  let last = '';
  for (;;) {
    rest = rest.replace(/^[ \t\r\n]+/, '');
    if (rest === '') return { msg: last };
    let end = -1;
    for (let i = 1; i <= rest.length; i++) {
      try {
        JSON.parse(rest.slice(0, i));
        end = i;
        break;
      } catch {
        // keep extending
      }
    }
    if (end < 0) return { decodeError: 'invalid character' };
    const obj = JSON.parse(rest.slice(0, end)) as unknown;
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return { decodeError: 'cannot unmarshal' };
    const o = obj as { level?: unknown; msg?: unknown; time?: unknown };
    if (o.time !== undefined && (typeof o.time !== 'string' || !RFC3339.test(o.time))) return { decodeError: 'parsing time' };
    if (o.level === 'error' && typeof o.msg === 'string') last = o.msg;
    rest = rest.slice(end);
  }
}

describe('the --log error line', () => {
  it('is one JSON object with level, msg and an RFC3339 time, ending in a newline', () => {
    const line = errorLine('flox: environment acme/ci not found', new Date('2026-11-28T01:02:03.456Z'));
    expect(line.endsWith('\n')).toBe(true);
    expect(line.split('\n')).toHaveLength(2);
    expect(JSON.parse(line)).toEqual({ level: 'error', msg: 'flox: environment acme/ci not found', time: '2026-11-28T01:02:03.456Z' });
    expect(lastRuntimeError(line)).toEqual({ msg: 'flox: environment acme/ci not found' });
  });

  it('survives containerd decoding after runc info lines and wins as the last error', () => {
    const runcLines =
      '{"level":"info","msg":"runc create","time":"2026-11-28T00:00:00Z"}\n' +
      '{"level":"error","msg":"runc: an older error","time":"2026-11-28T00:00:01Z"}\n';
    expect(lastRuntimeError(runcLines + errorLine('flox: newer'))).toEqual({ msg: 'flox: newer' });
  });

  it('messages with quotes, newlines and unicode stay one decodable line', () => {
    const msg = userMessage('bad "value"\nsecond line ünïcode');
    expect(msg).toBe('flox: bad "value"; second line ünïcode');
    expect(lastRuntimeError(errorLine(msg))).toEqual({ msg });
  });

  it('the replay is strict: a non-JSON byte or a bad time loses the message (why we never print text there)', () => {
    expect(lastRuntimeError(`${errorLine('flox: x')}level=error msg="text"\n`)).toHaveProperty('decodeError');
    expect(lastRuntimeError('{"level":"error","msg":"m","time":"now"}')).toHaveProperty('decodeError');
  });

  it('reportFailure appends exactly one line to an existing log and creates a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runclog-'));
    const log = join(dir, 'log.json');
    appendFileSync(log, '{"level":"info","msg":"before","time":"2026-11-28T00:00:00Z"}\n');
    reportFailure('environment o/n not found', log);
    const text = readFileSync(log, 'utf8');
    expect(text.trim().split('\n')).toHaveLength(2);
    expect(lastRuntimeError(text)).toEqual({ msg: 'flox: environment o/n not found' });
    const fresh = join(dir, 'sub', 'new.json');
    reportFailure('flox: x', fresh);
    expect(existsSync(fresh)).toBe(true);
  });
});
