import net from 'node:net';

/** One response as it crossed the wire: the status line, each header line in order, the body. */
export interface WireResponse {
  readonly statusLine: string;
  readonly status: number;
  readonly headers: readonly (readonly [name: string, value: string])[];
  readonly body: string;
}

export interface Exchange {
  /** Final responses (interim 1xx ones are kept in `interim`). */
  readonly responses: readonly WireResponse[];
  readonly interim: readonly WireResponse[];
  /** Whether the server closed the connection (after the responses, or within `graceMs` of the last). */
  readonly closed: boolean;
  /** Bytes that did not parse as a complete response. */
  readonly rest: string;
}

export interface ExchangeOptions {
  /** Between two chunks. @default 0 */
  readonly gapMs?: number;
  /** Final responses to wait for; the exchange ends once they are in. @default 1 */
  readonly responses?: number;
  /** Which of them answer a HEAD (no body, whatever Content-Length says). @default none */
  readonly heads?: readonly boolean[];
  /** How long to wait, after the last expected response, for the server to close. @default 50 */
  readonly graceMs?: number;
  /** The whole exchange, at most. @default 15000 */
  readonly timeoutMs?: number;
}

/**
 * Writes `chunks` on a new connection to 127.0.0.1:`port` and reads the
 * answers as bytes on the wire: requests no HTTP client would send (no Host,
 * absolute-form, HTTP/1.0, pipelined, slow), responses compared header by
 * header. Bodies are delimited as HTTP/1.1 says: none for HEAD, 1xx, 204 and
 * 304; chunked; Content-Length; else up to the close.
 */
export function exchange(port: number, chunks: readonly string[], o: ExchangeOptions = {}): Promise<Exchange> {
  const expected = o.responses ?? 1;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    const responses: WireResponse[] = [];
    const interim: WireResponse[] = [];
    let closed = false;
    let done = false;
    let grace: NodeJS.Timeout | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(grace);
      clearTimeout(deadline);
      socket.destroy();
      resolve({ responses, interim, closed, rest: buffer.toString('latin1') });
    };
    const deadline = setTimeout(finish, o.timeoutMs ?? 15_000);
    const parse = (atEnd: boolean) => {
      for (;;) {
        const next = parseResponse(buffer, o.heads?.[responses.length] ?? false, atEnd);
        if (!next) return;
        buffer = buffer.subarray(next.length);
        (next.response.status < 200 ? interim : responses).push(next.response);
      }
    };
    socket.on('data', (d: Buffer) => {
      buffer = Buffer.concat([buffer, d]);
      parse(false);
      if (responses.length >= expected && !grace) grace = setTimeout(finish, o.graceMs ?? 50);
    });
    socket.on('end', () => {
      closed = true;
      parse(true);
      finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', () => undefined);
    void (async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk, 'latin1');
        if (o.gapMs) await new Promise((r) => setTimeout(r, o.gapMs));
      }
    })();
  });
}

/** The first complete response in `buf`, and how many bytes it took; undefined until one is complete. */
function parseResponse(
  buf: Buffer,
  head: boolean,
  atEnd: boolean,
): { response: WireResponse; length: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine = '', ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const headers = lines.map((l) => {
    const colon = l.indexOf(':');
    return [l.slice(0, colon), l.slice(colon + 1).trim()] as const;
  });
  const status = Number(statusLine.split(' ')[1]);
  const header = (name: string) => headers.find(([n]) => n.toLowerCase() === name)?.[1];
  const start = end + 4;
  const done = (bodyEnd: number, body: string) => ({
    response: { statusLine, status, headers, body },
    length: bodyEnd,
  });
  if (head || status < 200 || status === 204 || status === 304) return done(start, '');
  if (header('transfer-encoding')?.toLowerCase() === 'chunked') {
    let at = start;
    let body = '';
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd === -1) return undefined;
      const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
      if (buf.length < lineEnd + 2 + size + 2) return undefined;
      if (size === 0) return done(lineEnd + 4, body);
      body += buf.subarray(lineEnd + 2, lineEnd + 2 + size).toString('utf8');
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = header('content-length');
  if (length !== undefined) {
    const n = Number(length);
    return buf.length < start + n ? undefined : done(start + n, buf.subarray(start, start + n).toString('utf8'));
  }
  return atEnd ? done(buf.length, buf.subarray(start).toString('utf8')) : undefined;
}
