// yopo serve's server: the page, the compiled modules and the MNIST files on 127.0.0.1; nothing else;
// a port in use is a one-line error.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startWebServer } from '../web/server.js';
import { defaultMnistDir } from '../yopo/data/index.js';

test('serves the page, dist modules and MNIST; refuses paths outside them', async () => {
  const server = await startWebServer(0);
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(server.url);
    assert.is(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /dist\/web\/main\.js/);
    const module = await fetch(`${server.url}dist/browser.js`);
    assert.is(module.status, 200);
    assert.match(module.headers.get('content-type') ?? '', /javascript/);
    const labels = new Uint8Array(await (await fetch(`${server.url}data/mnist/t10k-labels-idx1-ubyte`)).arrayBuffer());
    assert.ok(Buffer.from(labels).equals(readFileSync(join(defaultMnistDir(), 't10k-labels-idx1-ubyte'))));
    for (const path of ['package.json', 'dist/%2e%2e/package.json', 'data/mnist/..%2f..%2fpackage.json', 'dist/no-such-file.js']) {
      assert.is((await fetch(`${server.url}${path}`)).status, 404, path);
    }
    assert.is((await fetch(server.url, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});

test('a port in use is a one-line error naming it', async () => {
  const first = await startWebServer(0);
  const port = Number(new URL(first.url).port);
  try {
    await startWebServer(port).then(
      () => assert.unreachable('the second server must not start'),
      (e: Error) => assert.is(e.message, `port ${port} on 127.0.0.1 is already in use; pick another with --port N`),
    );
  } finally {
    await first.close();
  }
});

test.run();
