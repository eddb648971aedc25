// The CRI `Status(verbose=true)` call over the runtime's unix socket, with node:http2 and a
// few lines of protobuf instead of a gRPC library: the installer needs one call, and the runtime
// bundle should not carry a gRPC stack for it. containerd answers with `info["config"]`, the
// JSON of the CRI config it actually serves, runtime handlers included.
import { connect, constants } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { FloxError } from '../errors.js';

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++]!;
    result += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [result, pos];
    shift += 7;
  }
}

/** Fields of one protobuf message: field number -> raw values (length-delimited as Buffers). */
export function decodeFields(buf: Buffer): Map<number, (Buffer | number)[]> {
  const out = new Map<number, (Buffer | number)[]>();
  let pos = 0;
  while (pos < buf.length) {
    let key: number;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let val: Buffer | number;
    if (wire === 0) [val, pos] = readVarint(buf, pos);
    else if (wire === 2) {
      let len: number;
      [len, pos] = readVarint(buf, pos);
      val = buf.subarray(pos, pos + len);
      pos += len;
    } else if (wire === 1) {
      val = buf.readDoubleLE(pos);
      pos += 8;
    } else if (wire === 5) {
      val = buf.readFloatLE(pos);
      pos += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(val);
    out.set(field, list);
  }
  return out;
}

/** StatusResponse.info (field 2, map<string,string>). */
export function decodeStatusInfo(msg: Buffer): Record<string, string> {
  const info: Record<string, string> = {};
  for (const entry of decodeFields(msg).get(2) ?? []) {
    if (!Buffer.isBuffer(entry)) continue;
    const f = decodeFields(entry);
    const k = f.get(1)?.[0];
    const v = f.get(2)?.[0];
    if (Buffer.isBuffer(k)) info[k.toString('utf8')] = Buffer.isBuffer(v) ? v.toString('utf8') : '';
  }
  return info;
}

export interface CriStatusOptions {
  socket: string;
  timeoutMs?: number;
  /** runtime.v1 by default; v1alpha2 for very old containerd. */
  service?: string;
}

export async function criStatusInfo(opts: CriStatusOptions): Promise<Record<string, string>> {
  const service = opts.service ?? 'runtime.v1.RuntimeService';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  // StatusRequest { bool verbose = 1 } = 08 01, framed: uncompressed flag + 4-byte length
  const body = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
  return await new Promise((resolve, reject) => {
    const client = connect('http://localhost', { createConnection: () => netConnect(opts.socket) });
    const fail = (e: unknown) => {
      client.destroy();
      reject(new FloxError('install', `CRI Status on ${opts.socket} failed: ${(e as Error).message ?? String(e)}`));
    };
    const timer = setTimeout(() => fail(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    client.on('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    const req = client.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: `/${service}/Status`,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    let grpcMessage = '';
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
    });
    req.on('trailers', (h) => {
      grpcStatus = String(h['grpc-status'] ?? grpcStatus ?? '');
      grpcMessage = decodeURIComponent(String(h['grpc-message'] ?? ''));
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    req.on('end', () => {
      clearTimeout(timer);
      client.close();
      if (grpcStatus !== '0') {
        reject(new FloxError('install', `CRI Status on ${opts.socket}: grpc-status ${grpcStatus ?? '?'} ${grpcMessage}`.trim()));
        return;
      }
      try {
        const all = Buffer.concat(chunks);
        if (all.length < 5) throw new Error('empty gRPC reply');
        const len = all.readUInt32BE(1);
        resolve(decodeStatusInfo(all.subarray(5, 5 + len)));
      } catch (e) {
        reject(new FloxError('install', `CRI Status on ${opts.socket}: cannot decode the reply: ${(e as Error).message}`));
      }
    });
    req.end(body);
  });
}
