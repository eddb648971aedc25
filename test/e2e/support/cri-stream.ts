// The streaming half of CRI Exec and Attach, as kubelet's clients use it: the runtime answers
// Exec/Attach with a URL of its stream server (containerd: stream_server_address/port), and the
// client speaks Kubernetes' remotecommand protocol there. This is the WebSocket form
// (k8s.io/apimachinery wsstream, subprotocol v4.channel.k8s.io): every message starts with a
// channel byte, 0 stdin, 1 stdout, 2 stderr, 3 the final status (JSON metav1.Status), 4 resize.
// containerd 1.6 speaks v1–v4, which cannot half-close stdin (v5's close frame came with
// Kubernetes 1.29): a caller ends its input with the shell's `exit`, as the research notes.
import WebSocket from 'ws';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;

export interface StreamResult {
  stdout: string;
  stderr: string;
  /** the process's exit code from the v4 status channel (Exec), or undefined (Attach ends without one) */
  exitCode?: number;
  /** the status message when it is not Success */
  status?: string;
}

export interface StreamSession {
  /** resolves when the server has upgraded the connection and the streams are ready */
  ready: Promise<void>;
  write(data: string): void;
  /** closes the connection: the end of an Attach (the container's stdin itself stays open) */
  close(): void;
  /** resolves when the server closes the stream (an Exec's process has exited) */
  done: Promise<StreamResult>;
}

/** `{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}` */
function exitCodeOf(status: { status?: string; details?: { causes?: Array<{ reason?: string; message?: string }> } }): number | undefined {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  return cause?.message !== undefined ? Number(cause.message) : undefined;
}

export function openStream(url: string, opts: { timeoutMs?: number } = {}): StreamSession {
  const ws = new WebSocket(url, ['v4.channel.k8s.io'], { handshakeTimeout: opts.timeoutMs ?? 10_000 });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let status: StreamResult['status'];
  let exitCode: number | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const done = new Promise<StreamResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`stream ${url} still open after ${opts.timeoutMs ?? 60_000} ms`));
    }, opts.timeoutMs ?? 60_000);
    ws.on('message', (data: Buffer) => {
      const channel = data[0];
      const payload = data.subarray(1);
      if (channel === STDOUT) out.push(payload);
      else if (channel === STDERR) err.push(payload);
      else if (channel === STATUS && payload.length > 0) {
        const s = JSON.parse(payload.toString('utf8')) as { status?: string; message?: string };
        exitCode = exitCodeOf(s);
        if (s.status !== 'Success') status = s.message ?? s.status;
      }
    });
    ws.once('close', () => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ...(exitCode !== undefined && { exitCode }), ...(status && { status }) });
    });
    ws.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  done.catch(() => {});
  return {
    ready,
    write(data: string) {
      ws.send(Buffer.concat([Buffer.from([STDIN]), Buffer.from(data, 'utf8')]));
    },
    close() {
      ws.close();
    },
    done,
  };
}
