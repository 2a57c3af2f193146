import { type FormEvent, useId, useState } from 'react';
import { useApp } from '../store';

const LETTERS = 'ABCDEFGH';

/** A question about a video written by hand: the video stays picked, so several questions share it. */
export function ItemForm() {
  const add = useApp((s) => s.addItem);
  const [video, setVideo] = useState<File | null>(null);
  const [question, setQuestion] = useState('');
  const [options, setOptions] = useState('');
  const [answer, setAnswer] = useState('A');
  const [heldOut, setHeldOut] = useState(false);
  const id = useId();
  const optionList = options
    .split('\n')
    .map((o) => o.trim())
    .filter(Boolean);
  const letters = optionList.length ? LETTERS.slice(0, optionList.length) : LETTERS.slice(0, 4);
  const ok = video !== null && question.trim() !== '' && letters.includes(answer);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!ok || !video) return;
    add(video, question.trim(), optionList, answer, heldOut);
    setQuestion('');
  };

  return (
    <details className="ft-item-form">
      <summary>Write a question about a video</summary>
      <form onSubmit={submit} className="ft-grid ft-item-grid">
        <label htmlFor={`${id}-v`}>Video</label>
        <input
          id={`${id}-v`}
          type="file"
          accept="video/*"
          onChange={(e) => setVideo(e.target.files?.[0] ?? null)}
        />
        <label htmlFor={`${id}-q`}>Question</label>
        <input
          id={`${id}-q`}
          className="text-input"
          value={question}
          onChange={(e) => setQuestion(e.target.value)}
        />
        <label htmlFor={`${id}-o`}>Options (one a line)</label>
        <textarea
          id={`${id}-o`}
          className="text-input"
          rows={4}
          value={options}
          onChange={(e) => setOptions(e.target.value)}
        />
        <label htmlFor={`${id}-a`}>Right answer</label>
        <select
          id={`${id}-a`}
          className="text-input"
          value={answer}
          onChange={(e) => setAnswer(e.target.value)}
        >
          {[...letters].map((l, i) => (
            <option key={l} value={l}>
              {l}
              {optionList[i] ? `. ${optionList[i]}` : ''}
            </option>
          ))}
        </select>
        <span />
        <label className="ft-check">
          <input type="checkbox" checked={heldOut} onChange={(e) => setHeldOut(e.target.checked)} />
          held out (for evaluation only)
        </label>
        <span />
        <button type="submit" className="button" disabled={!ok}>
          Add the question
        </button>
      </form>
      <p className="muted">The video stays picked: add several questions about it one after another.</p>
    </details>
  );
}
