/** The post controller: a pure state machine per filling post (issue 3, points 3-5). */
export { transition, initialState, deadline, valveMayBeOpen, type InitialOptions } from './machine.ts';
export { controllerConfig, controllerDefaults, defaultPreFillItems, defaultPostFillItems, type ControllerConfig, type ControllerIdentity } from './config.ts';
export { isoWithOffset } from './record.ts';
export { fitLine, predictCrossing } from './flow.ts';
export { learnPreact, preactAt, cutoffGross, targetContent, toleranceOf } from './preact.ts';
export { VALVE_OPEN_PHASES } from './steps.ts';
export type * from './types.ts';
export { planCut, planPulse, learnTiming, measuredCloseMs, closeMaxMs } from './cutoff-plan.ts';
