import { Type } from 'class-transformer';
import { IsInt, IsNotEmpty, IsOptional, IsString, Max, Min } from 'class-validator';

export class ListTasksQuery {
  @IsOptional() @IsString() @IsNotEmpty()
  user_id?: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500)
  limit = 100;
}
