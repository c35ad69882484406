// Core's stand-ins are libs/testing's; these names stay for the specs written against them.
export { StandInServer, type RecordedRequest as StandInRequest } from '@pancha/testing';
