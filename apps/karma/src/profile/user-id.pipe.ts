import { Injectable, type PipeTransform } from '@nestjs/common';
import { isNotBlank } from '@pancha/contracts';
import { validationException } from '@pancha/service-kit';

/**
 * A user id in a read's path obeys the rule of the events' `data.user_id`: a blank one is the same 422 there as in
 * `POST /v1/event/`, not a 404 or an empty history of a user no event can ever name.
 */
@Injectable()
export class UserIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!isNotBlank(value)) throw validationException([{ field: 'user_id', messages: ['user_id must not be blank'] }]);
    return value;
  }
}
