// yopo serve: the web page (train YOPO on MNIST in the browser, draw and attack digits) on 127.0.0.1.

import { type CommandSpec, parseCommand } from './args.js';
import { startWebServer } from '../web/server.js';

/** Options of `yopo serve`. */
export const serveSpec = {
  name: 'serve',
  summary: 'serve the web page: YOPO training, drawing and attacks in the browser (WebGPU)',
  usage: 'serve [--port N]',
  options: {
    port: { type: 'number', default: 8080, integer: true, min: 0, help: 'port on 127.0.0.1 (0: any free port)' },
  },
} as const satisfies CommandSpec;

/** `yopo serve`: serves the web page on 127.0.0.1:--port until Ctrl-C. */
export async function serveCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(serveSpec, argv);
  if (!parsed) return;
  const port = parsed.values.port;
  if (port > 65535) throw new Error(`--port ${port} is not a TCP port (0 to 65535)`);
  const { url, close } = await startWebServer(port);
  console.log(`yopo web page: ${url}  (a browser with WebGPU; Ctrl-C stops the server)`);
  await new Promise<void>((done) => process.once('SIGINT', () => void close().then(done)));
}
