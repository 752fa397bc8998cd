// Acquiring a GPUDevice, in Node (through Dawn's `webgpu` package) or in a browser (navigator.gpu),
// behind one function. Failures say what was tried and what to do next.

/** What the adapter says about itself (from adapter.info), a few of its limits by name, and its features sorted. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software rasterisers (lavapipe, SwiftShader): handy to label benchmark numbers. */
  isSoftware: boolean;
  limits: Record<string, number>;
  features: string[];
}

/** An acquired device, the adapter it came from and that adapter's description. */
export interface WebGPUHandle {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: AdapterDescription;
}

/** Options for requestWebGPU; powerPreference defaults to 'high-performance'. */
export interface RequestDeviceOptions {
  powerPreference?: GPUPowerPreference;
}

// Outside a browser, a GPU comes from a provider that the Node entry registers (kernels/webgpu/dawn.ts,
// Dawn's `webgpu` package); this module never imports it, so the browser entry stays free of Node code.
let gpuProvider: (() => Promise<GPU>) | null = null;

/** How this host waits for a promise of the device (a readback, the queue's end): as is, unless the
 *  provider says otherwise (Dawn's Node bindings, whose waits would otherwise spin: dawn.ts). */
let deviceWait: <T>(pending: Promise<T>) => Promise<T> = (pending) => pending;

/** Registers where navigator-less hosts (Node) get their GPU from, and how to wait on it; the first provider registered wins. */
export function provideGpu(provider: () => Promise<GPU>, wait?: <T>(pending: Promise<T>) => Promise<T>): void {
  if (gpuProvider) return;
  gpuProvider = provider;
  if (wait) deviceWait = wait;
}

/** Awaits a promise of the device (mapAsync, onSubmittedWorkDone) the way this host's provider asks. */
export function waitForDevice<T>(pending: Promise<T>): Promise<T> {
  return deviceWait(pending);
}

async function getGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (gpuProvider) return gpuProvider();
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (isNode)
    throw new Error(
      "no WebGPU in this Node process: import 'yopo' (or 'yopo/kernels'), which loads Dawn's 'webgpu' package",
    );
  throw new Error(
    'WebGPU is not available in this browser (navigator.gpu is undefined); try a browser with WebGPU enabled',
  );
}

/** Reads an adapter's vendor, architecture, device, description, chosen limits and features; flags software rasterisers (llvmpipe, lavapipe, SwiftShader). */
export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const key of [
    'maxBufferSize',
    'maxStorageBufferBindingSize',
    'maxComputeWorkgroupSizeX',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupsPerDimension',
    'maxComputeWorkgroupStorageSize',
    'maxStorageBuffersPerShaderStage',
  ]) {
    limits[key] = Number((adapter.limits as unknown as Record<string, number>)[key]);
  }
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isSoftware: /llvmpipe|lavapipe|swiftshader|software/.test(text),
    limits,
    features: [...adapter.features].sort(),
  };
}

/** A one-line adapter name for logs and benchmark tables: description (or device), then "(vendor architecture)". */
export function adapterName(info: AdapterDescription): string {
  return [
    info.description || info.device,
    info.vendor && `(${info.vendor}${info.architecture ? ` ${info.architecture}` : ''})`,
  ]
    .filter(Boolean)
    .join(' ');
}

const HELP = "Run 'npm run setup' (installs Mesa's lavapipe on Debian/Ubuntu) or 'npm run doctor' for details.";

/** Requests an adapter and a device with the adapter's largest buffer limits. */
export async function requestWebGPU(options: RequestDeviceOptions = {}): Promise<WebGPUHandle> {
  const gpu = await getGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter)
    throw new Error(`no WebGPU adapter found (no GPU driver and no software Vulkan driver such as lavapipe). ${HELP}`);
  const limits = adapter.limits;
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      // Subgroup operations let the matmul kernel share loads across a SIMD vector (much faster on lavapipe);
      // timestamp queries let `yopo bench` time each kernel (Gpu.startProfile).
      requiredFeatures: (['subgroups', 'timestamp-query'] as const).filter((f) => adapter.features.has(f)),
      requiredLimits: {
        maxBufferSize: limits.maxBufferSize,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
        maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
      },
    });
  } catch (error) {
    throw new Error(`the WebGPU adapter refused to create a device: ${(error as Error).message}. ${HELP}`);
  }
  return { device, adapter, info: describeAdapter(adapter) };
}
