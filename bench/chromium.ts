// Launching Debian's Chromium for the browser tests, driven by playwright-core (which never downloads
// a browser here). WebGPU on this machine: Chromium ignores Mesa's lavapipe and gives SwiftShader, its
// own software Vulkan; --enable-unsafe-webgpu is what enables it (measured with Chromium 156 on
// Debian 12: adding --enable-features=Vulkan, --use-angle=vulkan, --use-vulkan=native,
// --ignore-gpu-blocklist or --use-webgpu-adapter=swiftshader changes nothing: the adapter is
// 'google swiftshader' every time). WebGPU needs a secure context: pages are served from
// http://127.0.0.1, not opened as about:blank (where navigator.gpu is undefined).

import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = process.env.YOPO_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why the browser tests cannot run here, or null when Chromium is installed. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM)
    ? null
    : `no Chromium at ${CHROMIUM} (run 'npm run setup' as root, or 'apt-get install chromium'; YOPO_CHROMIUM names another binary)`;
}

/** A fresh Chromium with a new, empty profile (--user-data-dir) and downloads accepted. */
export function launchChromium(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'yopo-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    acceptDownloads: true,
    viewport: { width: 1200, height: 1300 },
  });
}
