import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { TaskView } from '@pancha/contracts';
import type { DataSource } from 'typeorm';
import { TaskEntity } from './task.entity';

@Injectable()
export class TasksService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Newest first; without a user_id, every user's tasks. */
  async list(query: { userId?: string; limit: number }): Promise<TaskView[]> {
    const rows = await this.dataSource.getRepository(TaskEntity).find({
      where: query.userId !== undefined ? { userId: query.userId } : {},
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
