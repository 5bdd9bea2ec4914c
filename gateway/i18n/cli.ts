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
  'cli.demo.keep': { zh: '继续运行（--keep）；按 Ctrl-C 停止', en: 'running on (--keep); Ctrl-C to stop' },
  'cli.registry.summary': { zh: '{file}：{total} 行，{valid} 行正确，{rejected} 行有错；{result}', en: '{file}: {total} rows, {valid} valid, {rejected} rejected; {result}' },
  'cli.registry.applied': { zh: '已写入：新增 {created}，更新 {updated}，未变 {unchanged}', en: 'applied: {created} created, {updated} updated, {unchanged} unchanged' },
  'cli.registry.nothing': { zh: '未写入任何数据', en: 'NOTHING applied' },
} as const satisfies Record<string, Message>;
