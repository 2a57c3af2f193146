/**
 * The iframe mode (/embed?src=…&question=…&origin=…): the app's own page holding one <video-reasoner>
 * that fills the frame. Query parameters set its attributes; the host drives it and hears its events
 * through postMessage (embed-messages.ts), with the host's origin checked both ways.
 */
import { FORWARDED_EVENTS, hostOrigin, MESSAGE_PREFIX, parseHostMessage } from './embed-messages';
import './index';

const ATTRIBUTES = ['src', 'question', 'model', 'frames', 'max-new-tokens', 'temperature'] as const;

const params = new URLSearchParams(location.search);
const el = document.createElement('video-reasoner');
for (const name of ATTRIBUTES) {
  const v = params.get(name);
  if (v !== null) el.setAttribute(name, v);
}
document.body.append(el);

const host = hostOrigin(params.get('origin'), Array.from(location.ancestorOrigins ?? []), document.referrer);
const parent = window.parent !== window ? window.parent : null;

if (host && parent) {
  for (const type of FORWARDED_EVENTS)
    el.addEventListener(type, (e) => {
      // Only plain data crosses (stats and details are plain objects).
      parent.postMessage({ type: MESSAGE_PREFIX + type, detail: (e as CustomEvent).detail }, host);
    });

  window.addEventListener('message', (e) => {
    if (e.origin !== host || e.source !== parent) return;
    const msg = parseHostMessage(e.data);
    if (!msg) return;
    if (msg.type === 'video-reasoner:ask') void el.ask(msg.question);
    else if (msg.type === 'video-reasoner:stop') void el.stop();
    else {
      if (msg.src !== undefined) el.src = msg.src;
      if (msg.question !== undefined) el.question = msg.question;
      if (msg.model !== undefined) el.model = msg.model;
      if (msg.frames !== undefined) el.frames = msg.frames;
      if (msg.maxNewTokens !== undefined) el.maxNewTokens = msg.maxNewTokens;
      if (msg.temperature !== undefined) el.temperature = msg.temperature;
    }
  });
}
