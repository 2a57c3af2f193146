/**
 * A question handed to the ask panel from elsewhere on the page (a sample clip's suggested question):
 * the panel copies it into its boxes, where it stays editable. `seq` changes with every hand-over, so
 * the same question twice still arrives.
 */
import { create } from 'zustand';

export interface QuestionDraft {
  question: string;
  options: string[];
  seq: number;
  offer(question: string, options: string[]): void;
}

export const useQuestionDraft = create<QuestionDraft>()((set) => ({
  question: '',
  options: [],
  seq: 0,
  offer: (question, options) => set((s) => ({ question, options, seq: s.seq + 1 })),
}));
