// yopo serve's server: the page, the compiled modules and the MNIST files on 127.0.0.1; nothing else;
// a port in use is a one-line error.

import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startWebServer } from '../../web/server.js';
import { defaultMnistDir } from '../../yopo/data/index.js';

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
    for (const path of [
      'package.json',
      'dist/%2e%2e/package.json',
      'data/mnist/..%2f..%2fpackage.json',
      'dist/no-such-file.js',
    ]) {
      assert.is((await fetch(`${server.url}${path}`)).status, 404, path);
    }
    assert.is((await fetch(server.url, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});

test('a file that cannot be read answers 500 (or cuts that response short) and the server keeps serving', async () => {
  // Reads fail as they do with too many open files, or a file removed between its stat and its open;
  // then one that fails after its first bytes (a file rebuilt while served).
  let failure: 'open' | 'midway' | null = 'open';
  const server = await startWebServer(0, {
    openFile: (path) => {
      if (failure === 'open') return createReadStream(join(path, 'no-such-file'));
      if (failure === 'midway') {
        const stream = new Readable({ read() {} });
        setImmediate(() => {
          stream.emit('open');
          stream.push('<html>');
          setImmediate(() => stream.destroy(new Error('EIO: i/o error, read')));
        });
        return stream;
      }
      return createReadStream(path);
    },
  });
  try {
    const failed = await fetch(server.url);
    assert.is(failed.status, 500);
    assert.match(await failed.text(), /^cannot read \/: /);
    failure = 'midway';
    const short = await fetch(server.url)
      .then((r) => r.text())
      .then(
        () => 'complete',
        () => 'cut short',
      );
    assert.is(short, 'cut short', 'a body cut short does not look complete');
    failure = null;
    const page = await fetch(server.url);
    assert.is(page.status, 200, 'still serving');
    assert.match(await page.text(), /dist\/web\/main\.js/);
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
