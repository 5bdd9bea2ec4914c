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
  fillCount: number;
  /** ISO 8601 with offset. */
  lastFillAt: string | null;
  updatedAt: string;
}

/** What a caller or an import supplies; fill count and last fill are operational data the registry keeps. */
export type CylinderInput = Omit<Cylinder, 'fillCount' | 'lastFillAt' | 'updatedAt' | 'status' | 'valveCode' | 'waterVolumeL'> & {
  status?: CylinderStatus;
  valveCode?: string | null;
  waterVolumeL?: number | null;
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
