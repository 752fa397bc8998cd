// npm run setup: makes a fresh machine ready to run yopo. Idempotent.
// 1. installs npm dependencies (if missing or out of date);
// 2. checks for a WebGPU adapter through Dawn; if none and this is Debian/Ubuntu running as root,
//    installs Mesa's software Vulkan driver (lavapipe) — on Debian bookworm from bookworm-backports,
//    because bookworm's own Mesa 22 is too old for Dawn — and checks again; otherwise prints exactly
//    what to install;
// 3. checks for Chromium (the browser tests drive /usr/bin/chromium through playwright-core, which
//    downloads no browser); if none and this is Debian/Ubuntu running as root, installs the distribution's
//    `chromium` package; otherwise prints what to install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
const log = (msg) => console.log(`[setup] ${msg}`);
const run = (cmd, args, opts = {}) => {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
};

// 1. npm dependencies.
const lock = existsSync('package-lock.json') ? statSync('package-lock.json').mtimeMs : 0;
const installed = existsSync('node_modules/.package-lock.json')
  ? statSync('node_modules/.package-lock.json').mtimeMs
  : -1;
if (!existsSync('node_modules/webgpu') || installed < lock) {
  run('npm', [existsSync('package-lock.json') ? 'ci' : 'install', '--no-audit', '--no-fund']);
} else {
  log('npm dependencies are installed');
}

// 2. A WebGPU adapter?
const runtimeDir = process.env.XDG_RUNTIME_DIR ?? '/tmp/yopo-runtime';
mkdirSync(runtimeDir, { recursive: true });
function probe() {
  const code = `
    import { create, globals } from 'webgpu';
    Object.assign(globalThis, globals);
    const adapter = await create([]).requestAdapter();
    if (!adapter) { console.log('NONE'); process.exit(0); }
    const i = adapter.info;
    console.log(JSON.stringify({ vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description }));
    process.exit(0);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir },
  });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || line === 'NONE' || !line.startsWith('{'))
    return { ok: false, detail: (r.stderr ?? '').trim().split('\n').slice(-3).join(' ') };
  return { ok: true, info: JSON.parse(line) };
}

let found = probe();
if (found.ok) {
  log(
    `WebGPU adapter: ${found.info.description || found.info.device} (${found.info.vendor} ${found.info.architecture})`,
  );
  ensureChromium();
  process.exit(0);
}
log(`no WebGPU adapter found${found.detail ? ` (${found.detail})` : ''}`);

const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
const field = (k) => osRelease.match(new RegExp(`^${k}="?([^"\\n]*)"?`, 'm'))?.[1] ?? '';
const id = field('ID');
const codename = field('VERSION_CODENAME');
const isRoot = process.getuid?.() === 0;
const debianLike = ['debian', 'ubuntu'].includes(id) || /debian|ubuntu/.test(field('ID_LIKE'));
const backports = id === 'debian' && codename === 'bookworm';
const instructions = backports
  ? "add 'deb http://deb.debian.org/debian bookworm-backports main' to apt's sources, then: apt-get update && apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1"
  : 'install a Vulkan driver for your GPU, or Mesa >= 24 software Vulkan (lavapipe): apt-get install mesa-vulkan-drivers libvulkan1';

if (!debianLike || !isRoot) {
  console.error(`[setup] WebGPU needs a Vulkan driver. As root, ${instructions}`);
  process.exit(1);
}

const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
if (backports) {
  const sources = '/etc/apt/sources.list.d/yopo-bookworm-backports.sources';
  const already = execFileSync(
    'bash',
    ['-c', 'grep -rhs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/ || true'],
    { encoding: 'utf8' },
  ).trim();
  if (!already) {
    writeFileSync(
      sources,
      'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    );
    log(`added ${sources}`);
  }
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '-t', 'bookworm-backports', 'mesa-vulkan-drivers', 'libvulkan1'], { env });
} else {
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', 'mesa-vulkan-drivers', 'libvulkan1'], { env });
}

found = probe();
if (!found.ok) {
  console.error(
    `[setup] still no WebGPU adapter after installing Mesa's Vulkan drivers${found.detail ? ` (${found.detail})` : ''}. ${instructions}`,
  );
  process.exit(1);
}
log(`WebGPU adapter: ${found.info.description || found.info.device} (${found.info.vendor} ${found.info.architecture})`);
ensureChromium();

/** Step 3: Debian's Chromium for the browser tests (YOPO_CHROMIUM may name another binary). */
function ensureChromium() {
  const binary = process.env.YOPO_CHROMIUM ?? '/usr/bin/chromium';
  if (existsSync(binary)) {
    log(`Chromium for the browser tests: ${binary}`);
    return;
  }
  const os = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  const get = (k) => os.match(new RegExp(`^${k}="?([^"\\n]*)"?`, 'm'))?.[1] ?? '';
  const debian = ['debian', 'ubuntu'].includes(get('ID')) || /debian|ubuntu/.test(get('ID_LIKE'));
  const hint = `the browser tests need Chromium at ${binary}: as root, apt-get install chromium (Debian), or set YOPO_CHROMIUM to a Chromium or Chrome binary`;
  if (!debian || process.getuid?.() !== 0) {
    console.error(`[setup] ${hint}`);
    process.exit(1);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', 'chromium'], { env });
  if (!existsSync(binary)) {
    console.error(`[setup] installed the chromium package but ${binary} is still missing; ${hint}`);
    process.exit(1);
  }
  log(`installed Chromium: ${binary}`);
}
