import type { Type } from '@nestjs/common';
import { PATTERN_METADATA } from '@nestjs/microservices/constants';

/** The @EventPattern topics a consumer controller handles (what its JetStream consumer dispatches on). */
export function consumedTopics(controller: Type<unknown>): string[] {
  const prototype = controller.prototype as Record<string, unknown>;
  const topics: string[] = [];
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const patterns: unknown = Reflect.getMetadata(PATTERN_METADATA, prototype[name] as object);
    if (Array.isArray(patterns)) topics.push(...patterns.filter((p): p is string => typeof p === 'string'));
  }
  return topics.sort();
}
