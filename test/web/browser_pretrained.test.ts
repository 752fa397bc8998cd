// The web page with the shipped pretrained models, in Debian's Chromium (headless, WebGPU on
// SwiftShader): it loads both without training and with no failed request, the same attack fools
// the natural model on more test images than the YOPO-trained one, and the drawing pad shows both
// models' answers to one attack side by side. A screenshot goes to dist/test-output/browser-pretrained.png.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chromiumMissing, launchChromium } from '../../bench/chromium.js';
import { type WebServer, startWebServer } from '../../web/server.js';
import type { BatchAttackReply } from '../../web/protocol.js';

const OUTPUT = join('dist', 'test-output');
/** Test images per model: PGD-40 on 24 images takes about a minute on SwiftShader here. */
const IMAGES = 24;

type PageState = { yopoPage: { ready: Promise<unknown>; batch: BatchAttackReply | null } };

const missing = chromiumMissing();
if (missing) {
  console.log(`browser tests skipped: ${missing}`);
  test.skip('browser tests (Chromium missing)', () => {});
} else {
  let server: WebServer;
  let browser: BrowserContext;

  test.before(async () => {
    server = await startWebServer(0);
    browser = await launchChromium();
  });
  test.after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the page starts with both pretrained models; the natural one is fooled on more test images than the YOPO one', async () => {
    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    await page.goto(`${server.url}?train=16&test=${IMAGES}`);
    await page.evaluate(() => (window as unknown as PageState).yopoPage.ready);
    assert.match((await page.textContent('#modelInfo')) ?? '', /smallcnn-mnist-natural, smallcnn-mnist-yopo/);
    assert.is(await page.inputValue('#model'), 'yopo', 'the page starts on the robust model');

    const results: Record<string, BatchAttackReply> = {};
    await page.fill('#batchImages', String(IMAGES));
    await page.selectOption('#attackKind', 'pgd-40');
    for (const slot of ['natural', 'yopo']) {
      await page.selectOption('#model', slot);
      await page.click('#attackBatch');
      await page.waitForFunction((s) => (window as unknown as PageState).yopoPage.batch?.model === s, slot, {
        timeout: 300_000,
        polling: 500,
      });
      results[slot] = (await page.evaluate(() => (window as unknown as PageState).yopoPage.batch))!;
      assert.match(
        (await page.textContent('#batchResult')) ?? '',
        new RegExp(
          `robust accuracy \\d+\\.\\d% \\[95% CI [\\d.]+, [\\d.]+\\] under PGD-40 \\(L∞ ε=0.3\\) on the first ${IMAGES} test images`,
        ),
      );
    }
    const { natural, yopo } = results;
    console.log(
      `PGD-40 at ε=0.3 on ${IMAGES} test images: natural ${natural.robust_accuracy} robust (clean ${natural.clean_accuracy}, ${natural.seconds.toFixed(0)} s), YOPO ${yopo.robust_accuracy} (clean ${yopo.clean_accuracy}, ${yopo.seconds.toFixed(0)} s)`,
    );
    assert.is(natural.n, IMAGES);
    assert.is(yopo.n, IMAGES);
    assert.ok(natural.clean_accuracy >= 0.9 && yopo.clean_accuracy >= 0.7, 'both models are trained');
    assert.ok(
      natural.robust_accuracy < yopo.robust_accuracy,
      `fooled: natural on ${(1 - natural.robust_accuracy) * IMAGES}, YOPO on ${(1 - yopo.robust_accuracy) * IMAGES} of ${IMAGES}`,
    );

    // One test image, one attack: both pretrained models' answers side by side.
    await page.selectOption('#model', 'yopo');
    await page.click('#pick');
    await page.waitForFunction(() => /→ \d \(true \d\)/.test(document.getElementById('cleanLabel')!.textContent ?? ''));
    await page.click('#attack');
    await page.waitForFunction(() => (document.getElementById('both')!.textContent ?? '') !== '', null, {
      timeout: 120_000,
    });
    assert.match(
      (await page.textContent('#both')) ?? '',
      /^PGD-40 at ε=0.3 on both pretrained models: natural: \d → \d \((fooled|held)\) · YOPO-5-10: \d → \d \((fooled|held)\)$/,
    );

    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'browser-pretrained.png'), fullPage: true });
    assert.equal(failed, [], 'no failed request on the way');
    await page.close();
  });
}

test.run();
