import type { Engine } from '../engine-client/protocol';
import { toEngineError } from '../engine-client/protocol';
import { gpuCommands } from './gpu-commands';
import { modelCommands } from './model-service';
import { browserEnv, type EngineEnv, EngineSession } from './session';
import { trainCommands } from './train-service';
import { videoService } from './video-service';
import { VisionHub } from './video-vision';

/**
 * The engine, in-thread: command groups composed over one session. The worker exposes exactly this
 * object; tests call it directly. New command groups join here with `...xCommands(session)`.
 */
export function createEngine(env: EngineEnv = browserEnv): Engine {
  const session = new EngineSession(env);
  // Vision runs ahead of questions: the video service feeds it frames, the model service its model.
  const vision = new VisionHub(() => session.gpu());
  const video = videoService(session, vision);
  return withEngineErrors({
    ...gpuCommands(session),
    ...modelCommands(session, video.lookup, vision),
    ...video.commands,
    ...trainCommands(session),
  });
}

/** Every command rejects with an EngineError, whatever its implementation threw. */
function withEngineErrors<T extends object>(commands: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(commands)) {
    out[name] =
      typeof fn === 'function'
        ? async (...args: unknown[]) => {
            try {
              return await fn(...args);
            } catch (e) {
              throw toEngineError(e);
            }
          }
        : fn;
  }
  return out as T;
}
