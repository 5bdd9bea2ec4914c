/**
 * Texts the command line prints for people (outcome lines, summaries). Codes,
 * file paths and numbers stay as they are; the language comes from
 * FILLGATE_LANG (gateway/i18n/index.ts cliLang). The English texts are the
 * ones the README and the tests quote.
 */
import type { Message } from './types.ts';

export const cliMessages = {
  'cli.outcome.filled': { zh: '合格', en: 'FILLED' },
  'cli.outcome.underfilled': { zh: '欠装', en: 'UNDERFILLED' },
  'cli.outcome.overfilled': { zh: '超装', en: 'OVERFILLED' },
  'cli.outcome.filled_unchecked': { zh: '未复检出站', en: 'UNCHECKED' },
  'cli.outcome.unauthorised_fill': { zh: '系统外充装', en: 'UNAUTH FILL' },
  'cli.outcome.refused': { zh: '拒绝', en: 'REFUSED' },
  'cli.outcome.tripped': { zh: '切断', en: 'TRIPPED' },
  'cli.outcome.aborted': { zh: '中止', en: 'ABORTED' },
  'cli.outcome.interrupted': { zh: '中断', en: 'INTERRUPTED' },
  'cli.outcome.fault': { zh: '故障', en: 'FAULT' },
  'cli.line.content': { zh: '瓶内 {content}（目标 {target}，允许 {allowed}）', en: 'content {content} (target {target}, allowed {allowed})' },
  'cli.line.reweighed': { zh: '复称 {kg}', en: 're-weighed {kg}' },
  'cli.line.people': { zh: '充装 {filler} 检查 {checker}', en: 'filler {filler} checker {checker}' },
  'cli.line.decant': { zh: '须倒瓶', en: 'MUST DECANT' },
  'cli.line.trip': { zh: '切断', en: 'trip' },
  'cli.demo.title': { zh: 'fillgate 演示 — 站点 {station}，单位 {unit}，2 把充装枪，模拟设备在本机', en: 'fillgate demo — station {station}, unit {unit}, 2 posts, simulated devices on loopback' },
  'cli.demo.where': { zh: '  数据：{data}   模拟器控制：{control}   监管接收端：{receiver}', en: '  data: {data}   simulator control: {control}   regulator receiver: {receiver}' },
  'cli.demo.summary': {
    zh: '{total} 条记录，用时 {secs} 秒；链与签名{verify}；监管平台接收 {accepted}，缺号 {gaps}，迟到 {late}',
    en: '{total} records in {secs} s; chain and signatures {verify}; regulator accepted {accepted}, gaps {gaps}, late {late}',
  },
  'cli.demo.verifyOk': { zh: '验证通过', en: 'verify' },
  'cli.demo.verifyFail': { zh: '验证失败', en: 'FAIL' },
  'cli.demo.dashboard': { zh: '  看板：{url}（登录 operator/demo 或 supervisor/demo）', en: '  dashboard: {url}  (login operator/demo or supervisor/demo)' },
  'cli.demo.dashboardEnds': { zh: '  演示结束时看板一并停止；要让它继续运行：npm start -- --keep（或 fillgate demo --keep）', en: '  it stops when the demo ends; to keep it running: npm start -- --keep (or fillgate demo --keep)' },
  'cli.demo.dashboardKept': { zh: '  --keep：演示结束后看板和模拟器继续运行，按 Ctrl-C 停止', en: '  --keep: the dashboard and the simulator stay up after the demo; Ctrl-C stops them' },
  'cli.demo.keep': { zh: '继续运行（--keep）；按 Ctrl-C 停止', en: 'running on (--keep); Ctrl-C to stop' },
  'cli.registry.summary': { zh: '{file}：{total} 行，{valid} 行正确，{rejected} 行有错；{result}', en: '{file}: {total} rows, {valid} valid, {rejected} rejected; {result}' },
  'cli.registry.applied': { zh: '已写入：新增 {created}，更新 {updated}，未变 {unchanged}', en: 'applied: {created} created, {updated} updated, {unchanged} unchanged' },
  'cli.registry.filling': { zh: '导入被拒绝：加气位 {posts} 有正在进行的充装；请在没有加气位充装时再导入', en: 'import refused: a fill is in progress at post {posts}; import when no post is filling' },
  'cli.registry.nothing': { zh: '未写入任何数据', en: 'NOTHING applied' },
} as const satisfies Record<string, Message>;
