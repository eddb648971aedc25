// The error contract with containerd and CRI-O. containerd decodes the whole `--log` file as a
// stream of JSON objects and reports the `msg` of the last one whose level is "error"; CRI-O's
// conmon reads the runtime's stderr. So a failure writes both, and success writes neither.
import { appendFileSync, mkdirSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function errorLine(msg: string, now: Date = new Date()): string {
  return `${JSON.stringify({ level: 'error', msg, time: now.toISOString() })}\n`;
}

/** Makes sure the text the user sees starts with `flox: ` and stays on one line. */
export function userMessage(text: string): string {
  const oneLine = text.replace(/\s*\n\s*/g, '; ').trim();
  return oneLine.startsWith('flox: ') ? oneLine : `flox: ${oneLine}`;
}

export function reportFailure(msg: string, logFile: string | undefined, now: Date = new Date()): void {
  const text = userMessage(msg);
  if (logFile) {
    try {
      mkdirSync(dirname(logFile), { recursive: true });
      appendFileSync(logFile, errorLine(text, now));
    } catch {
      // the stderr copy below is all we can still do
    }
  }
  try {
    // fd 2 directly: touching process.stderr would set O_NONBLOCK on the shim's shared pipe
    writeSync(2, `${text}\n`);
  } catch {
    // stderr closed: nothing more to do
  }
}
