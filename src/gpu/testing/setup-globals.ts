// vitest setup: WebGPU's global constants (GPUBufferUsage, …) exist before any module loads.
import { globals } from 'webgpu';

Object.assign(globalThis, globals);
