/**
 * <video-reasoner>: the embeddable widget. A custom element with an open shadow root that starts its
 * own engine worker (from any origin: engine-client/cross-origin.ts), loads the model (the shipped
 * demo model by default) and the video, and answers questions, streaming the think and answer parts.
 * Everything it tells the host arrives as bubbling, composed CustomEvents (README "Embedding").
 * No React here: the widget stays small.
 */
import {
  type AskStats,
  type EngineClient,
  EngineError,
  type EngineErrorInfo,
  errorInfo,
  type ModelSource,
  modelSourceFor,
  type VideoSource,
} from '../engine-client';
import { createCrossOriginEngineClient } from '../engine-client/cross-origin';
import { DEFAULT_MODEL_PATH } from '../ui/model/model-slice';
import { splitQuestion } from '../ui/model/question-text';
import { numberAttr } from './settings';
import css from './widget.css?inline';

export interface ProgressDetail {
  /** gpu, model, video, then the question's phases (preprocess, vision, connector, prefill, decode). */
  stage: string;
  loaded: number;
  total: number;
}
export interface TokenDetail {
  text: string;
  section: 'think' | 'answer';
}
export interface AnswerDetail {
  think: string;
  answer: string;
  /** The option letter read from the answer (A, B, …), or null. */
  option: string | null;
  stats: AskStats;
}
/** An engine error's kind, or the widget's own: 'no-question'. */
export interface ErrorDetail {
  kind: EngineErrorInfo['kind'] | 'no-question';
  message: string;
  hint: string;
}

const TEMPLATE = `
<div class="box" part="container">
  <div class="media" part="media" hidden><video part="video" muted playsinline controls preload="metadata"></video></div>
  <p class="status" part="status" role="status">Starting…</p>
  <progress part="progress" max="1" hidden></progress>
  <form part="form">
    <label for="q">Question</label>
    <textarea id="q" part="question" rows="2" placeholder="Ask about the video"></textarea>
    <ol class="options" part="options" hidden></ol>
    <div class="actions">
      <button type="submit" part="ask-button">Ask</button>
      <button type="button" class="secondary" part="stop-button" disabled>Stop</button>
    </div>
  </form>
  <div class="output" part="output" role="region" aria-label="Answer" tabindex="0">
    <p class="answer-line" aria-live="polite"><span class="option" part="option" hidden></span><span class="answer" part="answer"></span></p>
    <details part="think" hidden><summary>Thinking</summary><div class="think-text"></div></details>
  </div>
  <p class="footer" part="footer">Runs on your GPU, in this browser.</p>
</div>`;

/**
 * Where the app lives: built, the widget module sits one folder below its root (widget/ or assets/);
 * under the dev server (/embed.html) it is the page's own base.
 */
const APP_ROOT = import.meta.env.DEV
  ? new URL(import.meta.env.BASE_URL, location.href).href
  : new URL(/* @vite-ignore */ '../', import.meta.url).href;

export class VideoReasonerElement extends HTMLElement {
  static readonly observedAttributes = [
    'src',
    'question',
    'model',
    'frames',
    'max-new-tokens',
    'temperature',
  ];

  private readonly root: ShadowRoot;
  private readonly ui: {
    media: HTMLElement;
    video: HTMLVideoElement;
    status: HTMLElement;
    progress: HTMLProgressElement;
    form: HTMLFormElement;
    question: HTMLTextAreaElement;
    options: HTMLOListElement;
    ask: HTMLButtonElement;
    stop: HTMLButtonElement;
    think: HTMLDetailsElement;
    thinkSummary: HTMLElement;
    thinkText: HTMLElement;
    option: HTMLElement;
    answer: HTMLElement;
  };
  private engine: EngineClient | null = null;
  /** Engine up and model loaded (chained: a model change loads after the one before). */
  private ready: Promise<void> | null = null;
  private videoJob: Promise<void> = Promise.resolve();
  private videoAbort: AbortController | null = null;
  private videoBlob: Blob | null = null;
  private previewUrl: string | null = null;
  private running = false;
  /** The engine or its first model failed to start: a model change starts it again. */
  private bootFailed = false;
  /** The options written inline in the question attribute: listed under the box, asked with it. */
  private options: string[] = [];

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = css;
    this.root.append(style);
    const tpl = document.createElement('template');
    tpl.innerHTML = TEMPLATE; // a constant: no host or model text ever goes through innerHTML
    this.root.append(tpl.content);
    const $ = <T extends Element>(sel: string) => this.root.querySelector(sel) as T;
    this.ui = {
      media: $('.media'),
      video: $('video'),
      status: $('.status'),
      progress: $('progress'),
      form: $('form'),
      question: $('textarea'),
      options: $('.options'),
      ask: $('[part="ask-button"]'),
      stop: $('[part="stop-button"]'),
      think: $('details'),
      thinkSummary: $('summary'),
      thinkText: $('.think-text'),
      option: $('.option'),
      answer: $('.answer'),
    };
    this.ui.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.ask();
    });
    this.ui.question.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.ask();
      }
    });
    this.ui.stop.addEventListener('click', () => void this.stop());
  }

  // Attributes and their properties.
  get src(): string {
    return this.getAttribute('src') ?? '';
  }
  set src(v: string) {
    this.setAttribute('src', v);
  }
  get question(): string {
    return this.getAttribute('question') ?? '';
  }
  set question(v: string) {
    this.setAttribute('question', v);
  }
  get model(): string {
    return this.getAttribute('model') ?? '';
  }
  set model(v: string) {
    this.setAttribute('model', v);
  }
  get frames(): number {
    return Math.round(numberAttr(this.getAttribute('frames'), 16, 1, 64));
  }
  set frames(v: number) {
    this.setAttribute('frames', String(v));
  }
  get maxNewTokens(): number {
    return Math.round(numberAttr(this.getAttribute('max-new-tokens'), 256, 1, 4096));
  }
  set maxNewTokens(v: number) {
    this.setAttribute('max-new-tokens', String(v));
  }
  get temperature(): number {
    return numberAttr(this.getAttribute('temperature'), 0.1, 0, 2);
  }
  set temperature(v: number) {
    this.setAttribute('temperature', String(v));
  }
  /** A File or Blob to ask about (instead of `src`). */
  get video(): Blob | null {
    return this.videoBlob;
  }
  set video(v: Blob | null) {
    this.videoBlob = v;
    if (this.ready) this.loadVideo();
  }

  connectedCallback(): void {
    // Attributes set right after creation apply before the engine starts.
    queueMicrotask(() => {
      if (this.isConnected) this.boot();
    });
  }

  disconnectedCallback(): void {
    // A move within the page reconnects at once: only a removal stops the worker.
    queueMicrotask(() => {
      if (!this.isConnected) this.shutdown();
    });
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value) return;
    if (name === 'question') {
      const { question, options } = splitQuestion(value ?? '');
      this.ui.question.value = question;
      this.setOptions(options);
    }
    if (!this.ready) return;
    if (name === 'model') this.changeModel();
    if (name === 'src' || name === 'frames') this.loadVideo();
  }

  /** Asks `question` (default: the question box, else the attribute); resolves with the answer. */
  async ask(question?: string): Promise<AnswerDetail | null> {
    if (question !== undefined) {
      // A question given here brings its own options (inline), or none.
      const split = splitQuestion(question);
      this.ui.question.value = split.question;
      this.setOptions(split.options);
    }
    const text = this.ui.question.value.trim();
    if (this.running) return null;
    if (!text) {
      this.fail({ kind: 'no-question', message: 'Type a question first.', hint: 'Then press Ask.' });
      return null;
    }
    this.running = true;
    this.setBusy(true);
    this.resetOutput();
    let thinkTokens = 0;
    // Streamed deltas add up to the done texts (the parser's rule): the answer event waits for them.
    const streamed = { think: '', answer: '' };
    let live = true;
    try {
      this.boot();
      await this.ready;
      await this.videoJob;
      const engine = this.engine;
      if (!engine) throw new EngineError('cancelled', 'The widget was removed from the page.');
      this.setStatus('Thinking…');
      // Options typed inline in the box win over the listed ones.
      const typed = splitQuestion(text);
      const q = typed.question;
      const options = typed.options.length ? typed.options : this.options;
      const result = await engine.ask(
        {
          question: q,
          options,
          sampling: { maxNewTokens: this.maxNewTokens, temperature: this.temperature },
        },
        (e) => {
          if (!live) return;
          if (e.type === 'phase' && e.state === 'start') {
            this.setStatus(PHASE_LABEL[e.phase]);
            this.emit<ProgressDetail>('progress', { stage: e.phase, loaded: 0, total: 1 });
          } else if (e.type === 'phase') {
            this.emit<ProgressDetail>('progress', { stage: e.phase, loaded: 1, total: 1 });
          } else if (e.type === 'reasoning' && e.event.type !== 'done') {
            const section = e.event.type;
            streamed[section] += e.event.text;
            if (section === 'think') {
              this.ui.think.hidden = false;
              this.ui.thinkText.textContent += e.event.text;
              thinkTokens++;
              this.ui.thinkSummary.textContent = `Thinking (${thinkTokens})`;
            } else {
              this.setStatus('Answering…');
              this.ui.answer.textContent += e.event.text;
            }
            this.emit<TokenDetail>('token', { text: e.event.text, section });
          }
        },
      );
      const done = result.done;
      await settle(() => streamed.think === done.thinkText && streamed.answer === done.answerText);
      live = false;
      const detail: AnswerDetail = {
        think: done.thinkText,
        answer: done.answerText || done.answer,
        option: done.option,
        stats: result.stats,
      };
      this.ui.thinkText.textContent = detail.think;
      this.ui.think.hidden = detail.think === '';
      this.ui.thinkSummary.textContent = 'Thinking';
      this.ui.answer.textContent = detail.answer;
      // With no answer, the thinking is all there is to read: shown open, with a note.
      this.ui.think.open = detail.answer === '';
      this.ui.answer.classList.toggle('none', detail.answer === '');
      if (detail.answer === '') this.ui.answer.textContent = 'No answer in the output.';
      for (const li of this.ui.options.children)
        li.classList.toggle('chosen', (li as HTMLElement).dataset.letter === detail.option);
      this.ui.option.hidden = !detail.option;
      this.ui.option.textContent = detail.option ?? '';
      const s = result.stats;
      this.setStatus(
        `${s.stoppedBy === 'cancel' ? 'Stopped' : 'Answered'} · ${s.newTokens} tokens · ${s.tokensPerSecond.toFixed(1)} tokens/s`,
      );
      this.emit<AnswerDetail>('answer', detail);
      return detail;
    } catch (e) {
      this.fail(errorInfo(e));
      return null;
    } finally {
      this.running = false;
      this.setBusy(false);
    }
  }

  /** Stops the question being answered (it resolves with what it has). */
  async stop(): Promise<void> {
    if (this.running) await this.engine?.stop();
  }

  /** Starts the engine and loads the model once (later calls do nothing). */
  private boot(): void {
    if (this.ready) return;
    this.bootFailed = false;
    this.ready = (async () => {
      this.setStatus('Starting the GPU…');
      this.emit<ProgressDetail>('progress', { stage: 'gpu', loaded: 0, total: 1 });
      this.engine = createCrossOriginEngineClient();
      await this.engine.init({}, (e) => this.fail(e));
      this.emit<ProgressDetail>('progress', { stage: 'gpu', loaded: 1, total: 1 });
      await this.loadModel();
    })();
    this.ready.catch((e) => {
      this.bootFailed = true;
      this.fail(errorInfo(e));
    });
    if (this.src || this.videoBlob) this.loadVideo();
  }

  /** Stops the engine; the next boot() starts a new one. */
  private shutdown(): void {
    this.videoAbort?.abort();
    this.engine?.terminate();
    this.engine = null;
    this.ready = null;
    this.setPreview(null);
  }

  /**
   * Loads the model the attribute now names. One that fails is reported and the previous one stays
   * in use (the engine keeps it); when starting failed altogether, it starts again with this model.
   */
  private changeModel(): void {
    if (this.bootFailed) {
      this.shutdown();
      this.boot();
      return;
    }
    const ready = this.ready ?? Promise.resolve();
    this.ready = ready.then(() => this.loadModel()).catch((e) => this.fail(errorInfo(e)));
  }

  private modelSource(): ModelSource {
    const spec = this.model.trim();
    if (!spec) return { kind: 'url', baseUrl: new URL(DEFAULT_MODEL_PATH, APP_ROOT).href };
    return modelSourceFor(spec, { base: document.baseURI }).source;
  }

  private async loadModel(): Promise<void> {
    const engine = this.engine;
    if (!engine) return;
    this.setStatus('Loading the model…');
    // Progress travels on its own channel and may trail the result: dropped once the load is in.
    let live = true;
    const info = await engine.loadModel(this.modelSource(), (p) => {
      if (!live) return;
      const d = p.download;
      const [loaded, total] = d ? [d.loadedBytes, d.totalBytes] : [p.loadedBytes, p.totalBytes];
      this.showProgress(loaded, total);
      this.emit<ProgressDetail>('progress', { stage: 'model', loaded, total });
    });
    live = false;
    this.showProgress(0, 0);
    this.setStatus(`Ready · ${info.name}`);
    this.emit('ready', { model: info.name });
  }

  /** Loads the current src / video into the engine (replacing one in flight). */
  private loadVideo(): void {
    this.videoAbort?.abort();
    const abort = new AbortController();
    this.videoAbort = abort;
    const source: VideoSource | null = this.videoBlob
      ? { kind: 'file', file: this.videoBlob }
      : this.src
        ? { kind: 'url', url: new URL(this.src, document.baseURI).href }
        : null;
    this.setPreview(source);
    if (!source) return;
    const frames = this.frames;
    this.videoJob = (async () => {
      // A failed start is reported by boot(); the video waits for the next one.
      if (!(await this.ready?.then(() => true).catch(() => false))) return;
      const engine = this.engine;
      if (!engine || abort.signal.aborted) return;
      this.setStatus('Decoding the video…');
      let live = true;
      await engine.loadVideo(
        source,
        { method: { kind: 'uniform', n: frames } },
        {
          signal: abort.signal,
          onProgress: (p) => {
            if (!live) return; // trailing the result (see loadModel)
            this.showProgress(p.fraction, 1);
            this.emit<ProgressDetail>('progress', { stage: 'video', loaded: p.fraction, total: 1 });
          },
        },
      );
      live = false;
      this.showProgress(0, 0);
      if (!this.running) this.setStatus('Video loaded · ask a question');
    })();
    this.videoJob.catch((e) => {
      if (!abort.signal.aborted) this.fail(errorInfo(e));
    });
  }

  private setPreview(source: VideoSource | null): void {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = null;
    if (!source) {
      this.ui.video.removeAttribute('src');
      this.ui.media.hidden = true;
      return;
    }
    if (source.kind === 'file') this.previewUrl = URL.createObjectURL(source.file);
    this.ui.video.src = source.kind === 'file' ? (this.previewUrl as string) : source.url;
    this.ui.media.hidden = false;
  }

  private resetOutput(): void {
    this.ui.think.hidden = true;
    this.ui.think.open = false;
    this.ui.thinkText.textContent = '';
    this.ui.thinkSummary.textContent = 'Thinking';
    this.ui.answer.textContent = '';
    this.ui.answer.classList.remove('none');
    this.ui.option.hidden = true;
    this.ui.option.textContent = '';
    for (const li of this.ui.options.children) li.classList.remove('chosen');
  }

  private setOptions(options: string[]): void {
    this.options = options;
    this.ui.options.replaceChildren(
      ...options.map((text, i) => {
        const li = document.createElement('li');
        li.dataset.letter = String.fromCharCode(65 + i);
        li.textContent = text; // text only: never markup from the host
        return li;
      }),
    );
    this.ui.options.hidden = options.length === 0;
  }

  private setBusy(busy: boolean): void {
    this.ui.ask.disabled = busy;
    this.ui.stop.disabled = !busy;
  }

  private showProgress(loaded: number, total: number): void {
    this.ui.progress.hidden = !(total > 0);
    if (total > 0) this.ui.progress.value = Math.min(1, loaded / total);
  }

  private setStatus(text: string, error = false): void {
    this.ui.status.textContent = text;
    this.ui.status.classList.toggle('error', error);
  }

  private fail(err: ErrorDetail): void {
    this.showProgress(0, 0);
    this.setStatus(err.hint ? `${err.message} ${err.hint}` : err.message, true);
    this.emit<ErrorDetail>('error', { kind: err.kind, message: err.message, hint: err.hint });
  }

  private emit<T>(type: string, detail: T): void {
    this.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true }));
  }
}

/**
 * Waits (up to 2 s) for `ok`: the engine's events travel on their own channel and may trail its result,
 * so the last tokens are sent before the answer event.
 */
async function settle(ok: () => boolean): Promise<void> {
  for (let t = 0; t < 200 && !ok(); t++) await new Promise((r) => setTimeout(r, 10));
}

const PHASE_LABEL: Record<string, string> = {
  preprocess: 'Preparing the frames…',
  vision: 'Looking at the frames…',
  connector: 'Looking at the frames…',
  prefill: 'Reading the question…',
  decode: 'Thinking…',
};
