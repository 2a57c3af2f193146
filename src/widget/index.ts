/**
 * The widget's module (dist/widget/video-reasoner.js): importing it defines <video-reasoner>.
 * A page on any origin loads it with <script type="module" src="https://<app>/widget/video-reasoner.js">.
 */
import { VideoReasonerElement } from './video-reasoner';

export type { AnswerDetail, ErrorDetail, ProgressDetail, TokenDetail } from './video-reasoner';
export { VideoReasonerElement };

if (!customElements.get('video-reasoner')) customElements.define('video-reasoner', VideoReasonerElement);

declare global {
  interface HTMLElementTagNameMap {
    'video-reasoner': VideoReasonerElement;
  }
}
