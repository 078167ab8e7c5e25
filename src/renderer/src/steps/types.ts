/** What the wizard's steps share: App.tsx owns the state, each step gets these props. */
import type { ProjectSummary } from '../../../shared/contract.js';

export interface WizardState {
  project: ProjectSummary;
  modelPath?: string;
  runId?: string;
}

export interface StepProps {
  state: WizardState;
  update: (patch: Partial<WizardState>) => void;
  next: () => void;
}
