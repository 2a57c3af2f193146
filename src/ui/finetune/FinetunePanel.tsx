import { AdaptersSection } from './AdaptersSection';
import { DatasetSection } from './DatasetSection';
import { EvalSection } from './EvalSection';
import { RunSection } from './RunSection';
import { SettingsSection } from './SettingsSection';
import './finetune.css';

/** The fine-tune view: build a dataset, set up a run, watch it learn, compare, keep the adapter. */
export function FinetunePanel() {
  return (
    <section className="ft-panel" aria-labelledby="ft-title" data-testid="finetune-panel">
      <h2 id="ft-title">Fine-tune</h2>
      <p className="muted">
        Teach the loaded model with GRPO (or supervised fine-tuning) on your own clips, in this tab, on your
        GPU: a small LoRA adapter is trained on top of the frozen model. Progress is saved in this browser, so
        a reload continues where it stopped.
      </p>
      <DatasetSection />
      <SettingsSection />
      <RunSection />
      <EvalSection />
      <AdaptersSection />
    </section>
  );
}
