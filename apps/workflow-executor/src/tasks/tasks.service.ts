import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { TaskView } from '@pancha/contracts';
import { type DataSource, type FindOptionsWhere, In } from 'typeorm';
import { TaskEntity } from './task.entity';

@Injectable()
export class TasksService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Newest first; without a user_id, every user's tasks. `products` is the caller's scope (undefined =
   * every product): a narrowed caller sees only tasks of its products, never product-less ones (T9).
   */
  async list(query: { userId?: string; limit: number; products: string[] | undefined }): Promise<TaskView[]> {
    if (query.products?.length === 0) return [];
    const where: FindOptionsWhere<TaskEntity> = {};
    if (query.userId !== undefined) where.userId = query.userId;
    if (query.products) where.product = In(query.products);
    const rows = await this.dataSource.getRepository(TaskEntity).find({
      where,
      order: { createdAt: 'DESC', id: 'ASC' },
      take: query.limit,
    });
    return rows.map(toTaskView);
  }
}

export function toTaskView(row: TaskEntity): TaskView {
  return {
    task_id: row.id,
    user_id: row.userId,
    title: row.title,
    description: row.description,
    status: row.status,
    trace_id: row.traceId,
    product: row.product,
    created_at: row.createdAt.toISOString(),
  };
}
