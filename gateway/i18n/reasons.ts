/**
 * The refusal and trip reasons of the message catalogue: each stable code (for
 * records, metrics and the regulator) with its text in Chinese and English (for
 * people: the post tiles, the CLI outcome lines, the records screen). Rules cited
 * are in ../shared/domain.md. gateway/reasons.ts re-exports these tables.
 */
import type { Message } from './types.ts';

/** Why a cylinder may not be filled (checked before the gun opens). */
export const refusalReasons = {
  UNKNOWN_CODE: { zh: '未登记的气瓶编码（黑气瓶）', en: 'Unknown cylinder code (not registered)' },
  NOT_OWN_CYLINDER: { zh: '非本单位自有产权气瓶', en: "Not this filling unit's own cylinder" },
  SCRAPPED: { zh: '气瓶已报废', en: 'Cylinder is scrapped' },
  QUARANTINED: { zh: '气瓶已隔离待查', en: 'Cylinder is quarantined' },
  INSPECTION_OVERDUE: { zh: '气瓶超期未检', en: 'Periodic inspection overdue' },
  PAST_DESIGN_LIFE: { zh: '气瓶超出设计使用年限', en: 'Cylinder is past its design life' },
  MEDIUM_MISMATCH: { zh: '充装介质与充装枪不符', en: "Cylinder medium does not match the post's medium" },
  TARE_MISSING: { zh: '气瓶皮重不明，不得充装', en: 'Tare mass missing or unclear' },
  FILL_MASS_MISSING: { zh: '气瓶允许充装量缺失', en: 'Allowed fill mass missing' },
  NO_OPERATOR: { zh: '充装人员未刷卡上岗', en: 'No filling operator badged in' },
  OPERATOR_UNKNOWN: { zh: '未登记的人员卡', en: 'Unknown operator badge' },
  OPERATOR_NOT_FILLER: { zh: '该人员无充装岗位', en: 'Operator does not hold the filler role' },
  CERTIFICATE_EXPIRED: { zh: '充装人员证书已过期', en: "Operator's filling certificate has expired" },
  CHECKER_IS_FILLER: { zh: '充装人员不得兼任检查人员', en: 'The checker may not be the filler' },
  STATION_LOCKED_LEAK: { zh: '燃气泄漏报警，站点已锁定', en: 'Station locked: gas leak alarm' },
  STATION_LOCKED_UPLOAD: { zh: '充装数据上传滞后，站点已锁定', en: 'Station locked: record uploads are too far behind' },
  STATION_LOCKED_STORE: { zh: '本地存储将满，站点已锁定', en: 'Station locked: local record store nearly full' },
  // Issue 10 point 9: DB4114/T 185 §4.10, remote control of filling by the regulator.
  STATION_LOCKED_REMOTE: { zh: '监管部门或企业远程锁定站点', en: 'Station locked remotely by the regulator or company' },
  POCKET_CODE_WEIGHT: { zh: '称重与该码气瓶皮重不符（疑似口袋码）', en: "Weight does not match the scanned cylinder's tare (suspected pocket code)" },
  POCKET_CODE_OTHER_POST: { zh: '该码正在其他充装枪使用（疑似口袋码）', en: 'Code is already active at another post (suspected pocket code)' },
  REFILLED_TOO_SOON: { zh: '该码距上次充装时间过短（疑似口袋码）', en: 'Code was filled too recently (suspected pocket code)' },
  VALVE_CODE_MISMATCH: { zh: '智能角阀绑定的气瓶码与扫码不符', en: "Smart angle valve is bound to another cylinder's code" },
  PREVIOUS_NOT_CLOSED_OUT: { zh: '上一只气瓶尚未完成复核移出', en: 'Previous cylinder not closed out yet' },
  NO_CYLINDER_ON_SCALE: { zh: '秤上无气瓶', en: 'No cylinder on the scale' },
  DEVICE_OFFLINE: { zh: '秤或阀门设备离线', en: 'Scale or valve device offline' },
  // Added with the registry/eligibility module (issue 3): reasons the codes above did not name.
  OPERATOR_NOT_CHECKER: { zh: '该人员无检查岗位', en: 'Operator does not hold the checker role' },
  OPERATOR_NOT_SUPERVISOR: { zh: '该人员无主管权限', en: 'Operator does not hold the supervisor role' },
  CERTIFICATE_MISSING: { zh: '人员无充装作业证书（P证）记录', en: 'No filling-operator certificate (P certificate) on record' },
  INSPECTION_DATE_MISSING: { zh: '气瓶下次检验日期缺失，不得充装', en: 'Next inspection date missing' },
  DESIGN_LIFE_MISSING: { zh: '气瓶制造日期或设计使用年限缺失，不得充装', en: 'Manufacture date or design life missing' },
  WEIGHT_NOT_STABLE: { zh: '秤未稳定，请稍候', en: 'Scale not stable: wait for a steady weight' },
  SCALE_OVERLOAD: { zh: '秤超载或量程错误', en: 'Scale overload or out of range' },
  // Added with the post controller (issue 3).
  VERIFY_TIMEOUT: { zh: '气瓶校验超时', en: 'Cylinder verification timed out' },
  PRE_FILL_CHECK_FAILED: { zh: '充装前检查不合格', en: 'Pre-fill check found a defect' },
  ALREADY_FULL: { zh: '气瓶已达到充装目标，无需充装', en: 'Cylinder already at or above its fill target' },
  POST_IN_FAULT: { zh: '充装枪故障未复位', en: 'Post in fault: reset required' },
  // Issue 10 point 7: registry fields the standards require (clauses in gateway/eligibility/check.ts).
  VALVE_PHASE_DUAL: { zh: '气液双相气瓶禁止充装', en: 'Dual-phase (gas and liquid) cylinder: banned, never filled' },
  VALVE_PHASE_LIQUID_NOT_50KG: { zh: '液相阀仅允许50kg规格气瓶', en: 'Liquid-phase valve on a cylinder that is not the 50 kg size' },
  VALVE_PHASE_MISSING: { zh: '50kg气瓶阀门气相/液相未登记', en: 'Valve phase (gas or liquid) of a 50 kg cylinder not on record' },
  USE_REGISTRATION_MISSING: { zh: '气瓶未办理使用登记', en: 'Cylinder has no use-registration number' },
  MAKER_MISSING: { zh: '气瓶制造单位不明', en: "Cylinder's maker not on record" },
  E_ID_MISSING: { zh: '气瓶无电子识读标志', en: 'Cylinder has no electronic identification mark (e-ID)' },
  SMART_VALVE_REQUIRED: { zh: '新进或定期检验后的自有气瓶未配备智能角阀', en: 'Own cylinder taken in or re-inspected without a smart angle valve' },
  NON_REFILLABLE: { zh: '非重复充装气瓶，不得充装', en: 'Non-refillable cylinder: never filled' },
  PURGE_REQUIRED: { zh: '气瓶首次充装或检验后须先置换或抽真空', en: 'Purge or vacuum required before the first fill after registration or inspection' },
  // Issue 10 points 2-4.
  CYLINDER_SWAPPED: { zh: '扫码后秤上重量突变（气瓶被抬起、调换或倚压），本次充装作废', en: 'Weight stepped after the scan (cylinder lifted, swapped or leaned on): attempt ended' },
  FILLER_AT_OTHER_POST: { zh: '该充装人员正在其他充装枪作业，一人一枪', en: 'This filler is working at another post: one filler, one post' },
  BADGE_TIMEOUT: { zh: '充装人员刷卡已超时，请重新刷卡确认充装前检查', en: "Filler's badge timed out: badge again to confirm the pre-fill check" },
  AWAITING_DECANT: { zh: '超装气瓶待倒瓶处理，主管登记倒瓶前不得充装或出站', en: 'Overfilled cylinder held until a supervisor records the decant' },
} as const satisfies Record<string, Message>;

/** Why an open valve was closed (or a fill ended) other than reaching the target. */
export const tripReasons = {
  OVERFILL: { zh: '达到允许充装量上限，超装切断', en: 'Allowed fill mass reached: overfill cut-off' },
  STALE_WEIGHT: { zh: '称重数据中断', en: 'No fresh weight sample' },
  WEIGHT_DROP: { zh: '充装中重量下降（气瓶移开或软管断裂）', en: 'Weight dropped while filling (cylinder removed or hose break)' },
  NO_FLOW: { zh: '重量不再上升（无流量）', en: 'No flow: weight not rising' },
  MAX_DURATION: { zh: '充装超时', en: 'Maximum fill duration exceeded' },
  LEAK_ALARM: { zh: '燃气泄漏报警', en: 'Gas leak alarm' },
  STATION_LOCK: { zh: '站点锁定', en: 'Station locked' },
  VALVE_FEEDBACK: { zh: '阀门反馈与指令不符', en: 'Valve feedback does not match the command' },
  VALVE_FAULT: { zh: '阀门故障（指令未确认）', en: 'Valve fault (command not confirmed)' },
  // Issue 9 point 7: the indicator's own setpoint output is the second, independent overfill limit.
  SETPOINT_LIMIT: { zh: '秤仪表设定点（独立超装限位）写入后回读不符或写入失败，未开阀', en: "Scale indicator's setpoint (independent overfill limit) not confirmed: valve not opened" },
  OPERATOR_STOP: { zh: '操作员停止', en: 'Stopped by the operator' },
  SCALE_OVERLOAD: { zh: '秤超载或量程错误', en: 'Scale overload or out of range' },
  DEVICE_OFFLINE: { zh: '设备离线', en: 'Device offline' },
  PROCESS_INTERRUPTED: { zh: '网关进程中断，充装未完成', en: 'Gateway process interrupted mid-fill' },
  OVERFILLED_MUST_DECANT: { zh: '超装，须倒瓶处理', en: 'Overfilled: must decant' },
  UNEXPECTED_INPUT: { zh: '充装中收到意外输入，安全关阀', en: 'Unexpected input while filling: valve closed for safety' },
  CONTROLLER_ERROR: { zh: '充装控制内部错误，安全关阀', en: 'Controller error: valve closed for safety' },
  // Issue 10 points 1, 4 and 5.
  CYLINDER_SWAPPED: { zh: '充装中重量突变（非充装流量：气瓶被抬起、调换或倚压），关阀', en: 'Weight stepped while filling, not flow (cylinder lifted, swapped or leaned on): valve closed' },
  UNAUTHORISED_FILL: { zh: '无充装任务或阀门关闭时秤上重量上升（系统外充装），充装枪锁定待主管复位', en: 'Weight rose with no open fill or with the valve closed (filling outside the system): post locked until a supervisor reset' },
  LEFT_UNCHECKED: { zh: '气瓶未完成充装后复检（复称及检查人员签认）即离开', en: 'Cylinder left without a completed post-fill check (re-weigh and checker)' },
} as const satisfies Record<string, Message>;
