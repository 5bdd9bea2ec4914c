/**
 * Topic ACL for the embedded broker (issue 4 point 1), pure so it is tested as a table:
 * a device publishes only under its own topics (state, event, reply), subscribes only to its
 * own command topic (and the gateway's state), and never publishes a command: only the gateway commands valves, and the
 * gateway publishes through the broker's API, which the ACL does not see.
 */
import type { TopicMap } from './topics.ts';

export type AclDecision = { allow: true } | { allow: false; reason: string };

const DEVICE_PUBLISH_CHANNELS = new Set(['state', 'event', 'reply']);

export function canPublish(topics: TopicMap, device: string, topic: string): AclDecision {
  if (topic.startsWith('$')) return { allow: false, reason: 'reserved $ topic' };
  const parsed = topics.parseDeviceTopic(topic);
  if (!parsed) return { allow: false, reason: 'not a device topic' };
  if (parsed.device !== device) return { allow: false, reason: `topic belongs to device ${parsed.device}` };
  if (parsed.channel === 'cmd') return { allow: false, reason: 'only the gateway publishes commands' };
  if (!DEVICE_PUBLISH_CHANNELS.has(parsed.channel)) return { allow: false, reason: `unknown channel ${parsed.channel}` };
  return { allow: true };
}

export function canSubscribe(topics: TopicMap, device: string, filter: string): AclDecision {
  // Exact match only: wildcards would reach other devices' commands or everything.
  if (filter === topics.deviceTopic(device, 'cmd')) return { allow: true };
  // The retained gateway state tells a device whether anyone is listening (and the will says offline).
  if (filter === topics.gatewayState) return { allow: true };
  if (filter.includes('#') || filter.includes('+')) return { allow: false, reason: 'wildcard subscriptions are not allowed' };
  return { allow: false, reason: 'devices subscribe only to their own command topic' };
}
