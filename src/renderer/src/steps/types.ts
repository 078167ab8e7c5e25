/** What the wizard's steps share: App.tsx owns the state, each step gets these props. */
import type { ProjectSummary } from '../../../shared/contract.js';
import type { ExamplePlace } from '../../../shared/engine-results.js';

export interface WizardState {
  project: ProjectSummary;
  modelPath?: string;
  runId?: string;
  /** The max length the Tune step is set to (the Data step counts long examples against it). */
  maxLength?: number;
  /** An example a warning named: the Data step opens its list there. */
  showExample?: ExamplePlace;
}

export interface StepProps {
  state: WizardState;
  update: (patch: Partial<WizardState>) => void;
  next: () => void;
}
