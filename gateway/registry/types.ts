/**
 * What the registry knows about cylinders and operators. Per-cylinder fields
 * follow GB 5842-2023 markings (allowed fill mass, tare, manufacture month and
 * design life are stamped on each cylinder, domain.md 2); the model table in
 * models.ts is only a plausibility check.
 */
import type { Medium } from '../records/types.ts';

export type { Medium } from '../records/types.ts';

export type CylinderStatus = 'active' | 'quarantined' | 'scrapped';
export const cylinderStatuses: readonly CylinderStatus[] = ['active', 'quarantined', 'scrapped'];

export type Role = 'filler' | 'checker' | 'supervisor';
export const roles: readonly Role[] = ['filler', 'checker', 'supervisor'];

export const media: readonly Medium[] = ['LPG', 'DME'];

/**
 * How the cylinder's valve delivers (GB 5842-2023; seed 001 §二(二)2): gas phase (气相),
 * liquid phase (液相, only in the 50 kg size), or dual phase (气液双相, banned: never filled).
 */
export type ValvePhase = 'gas' | 'liquid' | 'dual';
export const valvePhases: readonly ValvePhase[] = ['gas', 'liquid', 'dual'];

export interface Cylinder {
  /** The cylinder's unique code (RFID UID, numeric or QR code), domain.md 3. */
  code: string;
  /** Code of the smart angle valve bound to this cylinder, when it has one (domain.md 1). */
  valveCode: string | null;
  /** Filling unit that owns the cylinder (domain.md 1: own property only). */
  ownerUnit: string;
  model: string;
  waterVolumeL: number | null;
  /** Null = unclear: the cylinder is refused (FILL_MASS_MISSING). */
  allowedFillKg: number | null;
  /** Null = unclear: the cylinder is refused (TARE_MISSING, domain.md 2). */
  tareKg: number | null;
  medium: Medium;
  /** YYYY-MM-DD; a stamped month YYYY-MM is stored as its first day (earliest end of life). */
  manufacturedOn: string | null;
  designLifeYears: number | null;
  /** YYYY-MM-DD, the last day the cylinder is within its inspection period. */
  nextInspectionDue: string | null;
  status: CylinderStatus;
  /** Null = not on record: accepted for the small sizes (gas phase only), refused at 50 kg (VALVE_PHASE_MISSING). */
  valvePhase: ValvePhase | null;
  /** Use-registration number (气瓶使用登记, registered per filling unit: seed 002 附件1 item 22, TSG 23). Null: refused. */
  useRegistrationNo: string | null;
  /** Maker, as stamped (GB 5842-2023 marks). Null: refused (MAKER_MISSING). */
  maker: string | null;
  /** The electronic identification mark (电子识读标志, GB 5842-2023; seed 002 附件1 item 23). */
  eId: string | null;
  /** YYYY-MM-DD the filling unit took the cylinder into its own stock (新进, seed 001 §三(二)4). */
  registeredOn: string | null;
  /** YYYY-MM-DD of the last periodic inspection (到期检验, seed 001 §三(二)4). */
  lastInspectedOn: string | null;
  /** False: a non-refillable cylinder (非重复充装气瓶), never filled (seed 002 附件1 item 26). */
  refillable: boolean;
  /**
   * Purge or vacuum (置换/抽真空) needed before the next fill: set at first registration and after
   * an inspection (TSG 23), cleared only by a supervisor's recorded purge (Registry.recordPurge).
   */
  purgeRequired: boolean;
  fillCount: number;
  /** ISO 8601 with offset. */
  lastFillAt: string | null;
  updatedAt: string;
}

/** What a caller or an import supplies; fill count and last fill are operational data the registry keeps. */
/** The standards' fields (issue 10 point 7) are optional in an input so older files and callers still work. */
export type CylinderStandardsFields = 'valvePhase' | 'useRegistrationNo' | 'maker' | 'eId' | 'registeredOn' | 'lastInspectedOn' | 'refillable' | 'purgeRequired';

export type CylinderInput = Omit<Cylinder, 'fillCount' | 'lastFillAt' | 'updatedAt' | 'status' | 'valveCode' | 'waterVolumeL' | CylinderStandardsFields> & {
  status?: CylinderStatus;
  valveCode?: string | null;
  waterVolumeL?: number | null;
  valvePhase?: ValvePhase | null;
  useRegistrationNo?: string | null;
  maker?: string | null;
  eId?: string | null;
  registeredOn?: string | null;
  lastInspectedOn?: string | null;
  /** Default true. */
  refillable?: boolean;
  /**
   * Absent: a new cylinder needs a purge (first registration, TSG 23), an existing one keeps its
   * flag and gets it when its inspection moves on. True sets it; false only on creation (stock
   * already in service): an import never clears a pending purge, only recordPurge does.
   */
  purgeRequired?: boolean;
};

export interface Operator {
  badge: string;
  name: string;
  roles: Role[];
  /** Filling-operator certificate (P证) number; fillers and checkers need one (domain.md 1). */
  certificateNo: string | null;
  /** YYYY-MM-DD, the last day the certificate is valid. */
  certificateExpires: string | null;
  updatedAt: string;
}

export type OperatorInput = Omit<Operator, 'updatedAt' | 'certificateNo' | 'certificateExpires'> & {
  certificateNo?: string | null;
  certificateExpires?: string | null;
};

export interface RegistryEvent {
  id: number;
  /** ISO 8601 with offset. */
  at: string;
  kind: string;
  /** Cylinder code or operator badge. */
  subject: string;
  reason: string | null;
  /** Who or what made the change: "import:cylinders.csv", "controller:P1", a supervisor badge. */
  source: string | null;
  data: Record<string, unknown> | null;
}
