import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { CapturedMessageView, MessageChannel } from '@pancha/contracts';
import { type DataSource, type FindOptionsWhere, In } from 'typeorm';
import { CapturedMessageEntity } from './captured-message.entity';
import { CAPTURED_RESULT } from './message-capture';

@Injectable()
export class CaptureOutboxService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Newest first. `products` is the caller's scope (undefined = every product): a narrowed caller sees only
   * messages of its products, never product-less ones (T9).
   */
  async list(query: { channel?: MessageChannel; traceId?: string; limit: number; products: string[] | undefined }): Promise<CapturedMessageView[]> {
    if (query.products?.length === 0) return [];
    const where: FindOptionsWhere<CapturedMessageEntity> = {};
    if (query.channel) where.channel = query.channel;
    if (query.traceId) where.traceId = query.traceId;
    if (query.products) where.product = In(query.products);
    const rows = await this.dataSource.getRepository(CapturedMessageEntity).find({
      where,
      order: { createdAt: 'DESC', id: 'ASC' },
      take: query.limit,
    });
    return rows.map((row) => ({
      id: row.id,
      channel: row.channel,
      ...CAPTURED_RESULT,
      recipient: row.recipient,
      subject: row.subject,
      body: row.body,
      trace_id: row.traceId,
      product: row.product,
      created_at: row.createdAt.toISOString(),
    }));
  }
}
