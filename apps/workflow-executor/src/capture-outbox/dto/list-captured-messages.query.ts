import { Type } from 'class-transformer';
import { IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Max, Min } from 'class-validator';
import type { MessageChannel } from '@pancha/contracts';

export class ListCapturedMessagesQuery {
  @IsOptional() @IsIn(['email', 'whatsapp'])
  channel?: MessageChannel;

  @IsOptional() @IsString() @IsNotEmpty()
  trace_id?: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500)
  limit = 100;
}
