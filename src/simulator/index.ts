export { startSimulator, type GraphSimulator, type SimulatorClock } from './server.js';
export type { BucketLimit, BudgetOptions, FaultOptions, ForcedAnswer, SimulatorOptions, ThrottleShape, TokenGrant } from './options.js';
export { DEFAULT_ANY_BUDGET, DEFAULT_BUDGET, DEFAULT_FAULTS, DEFAULT_THROTTLE_SHAPE, defaultTokens } from './options.js';
export type { DriftChange, SeedRow } from './core.js';
export { DEFAULT_SIM_TENANT, PRE_IMPORT_VALUES, tenantScoped } from './core.js';
export { seedRowsFromCsv } from './seed.js';
export type { RequestLogEntry, SimulatorCounters } from './metrics.js';
export type { GraphErrorBody } from './errors.js';
export { ENTITY_TYPE, ODATA_TYPE, USER_STATUS_VALUES } from './validation.js';
