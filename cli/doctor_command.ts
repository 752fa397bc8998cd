// yopo doctor: which WebGPU adapter yopo will use and its limits, or why there is none.

import { mesaCacheDir } from '../kernels/compiled_index_file.js';
import { compileAheadState } from '../kernels/webgpu/compile_ahead.js';
import { requestWebGPU } from '../kernels/webgpu/device.js';
import '../kernels/webgpu/dawn.js';
import { dawnNotices, explainDawnNotice } from '../kernels/webgpu/dawn_notices.js';
import { type CommandSpec, parseCommand } from './args.js';
import { packageVersion } from './session.js';

/** Options of `yopo doctor`. */
export const doctorSpec = {
  name: 'doctor',
  summary: 'show the WebGPU adapter and its limits, or why none was found',
  usage: 'doctor [--json]',
  options: { json: { type: 'boolean', help: 'print one JSON object' } },
} as const satisfies CommandSpec;

/** `yopo doctor`: prints the package and Node versions, the WebGPU adapter, its limits and features (or JSON with --json). */
export async function doctorCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(doctorSpec, argv);
  if (!parsed) return;
  const { device, info } = await requestWebGPU();
  const ahead = compileAheadState(info);
  if (parsed.values.json) {
    console.log(
      JSON.stringify({
        version: packageVersion(),
        node: process.version,
        ...info,
        compileAhead: ahead,
        dawnNotices: dawnNotices(),
      }),
    );
  } else {
    console.log(`yopo ${packageVersion()} on Node ${process.version}`);
    console.log(
      `adapter: ${info.description || info.device} (vendor ${info.vendor || '?'}, architecture ${info.architecture || '?'})${info.isSoftware ? ' [software renderer: expect CPU speeds]' : ''}`,
    );
    for (const [k, value] of Object.entries(info.limits)) console.log(`  ${k.padEnd(36)} ${value}`);
    console.log(`features: ${info.features.join(', ')}`);
    const where = ahead.on ? `; Mesa's shader cache: ${mesaCacheDir()}` : '';
    console.log(`compiling ahead on a second device: ${ahead.on ? 'on' : 'off'} (${ahead.why}${where})`);
    // Kept from stderr by every command (kernels/webgpu/dawn_notices.ts), shown here once.
    for (const line of dawnNotices()) console.log(`Dawn said at start-up: ${line}\n  (${explainDawnNotice(line)})`);
  }
  device.destroy();
}
