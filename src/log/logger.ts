// The runtime's own JSON-lines log. Never stdout or stderr: during create/exec those are the
// container's. Writes are synchronous appends so a line is on disk before the process execs
// or exits, and a log that cannot be written never fails a container start.
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LogLevel } from '../config/schema.js';

const ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  file?: string; // '' or undefined: log nowhere
  level?: LogLevel;
  fields?: LogFields;
  now?: () => Date;
}

/** Keys whose values must never reach a log line. */
const SECRET_KEY = /token|password|secret|authorization/i;

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : v;
  return out;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const file = opts.file ?? '';
  const min = ORDER[opts.level ?? 'info'];
  const base = opts.fields ?? {};
  const now = opts.now ?? (() => new Date());
  let dirReady = false;
  const write = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (!file || ORDER[level] < min) return;
    const line = JSON.stringify({ time: now().toISOString(), level, msg, ...redact({ ...base, ...fields }) });
    try {
      if (!dirReady) {
        mkdirSync(dirname(file), { recursive: true });
        dirReady = true;
      }
      appendFileSync(file, `${line}\n`);
    } catch {
      // logging is best effort; the error contract goes through the --log file separately
    }
  };
  return {
    trace: (m, f) => write('trace', m, f),
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...opts, fields: { ...base, ...fields } }),
  };
}

export const silentLogger: Logger = createLogger({ file: '' });
