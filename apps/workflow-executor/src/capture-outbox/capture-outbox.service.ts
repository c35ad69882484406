import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { CapturedMessageView, MessageChannel } from '@pancha/contracts';
import type { DataSource, FindOptionsWhere } from 'typeorm';
import { CapturedMessageEntity } from './captured-message.entity';

@Injectable()
export class CaptureOutboxService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async list(query: { channel?: MessageChannel; traceId?: string; limit: number }): Promise<CapturedMessageView[]> {
    const where: FindOptionsWhere<CapturedMessageEntity> = {};
    if (query.channel) where.channel = query.channel;
    if (query.traceId) where.traceId = query.traceId;
    const rows = await this.dataSource.getRepository(CapturedMessageEntity).find({
      where,
      order: { createdAt: 'DESC', id: 'ASC' },
      take: query.limit,
    });
    return rows.map((row) => ({
      id: row.id,
      channel: row.channel,
      recipient: row.recipient,
      subject: row.subject,
      body: row.body,
      trace_id: row.traceId,
      created_at: row.createdAt.toISOString(),
    }));
  }
}
