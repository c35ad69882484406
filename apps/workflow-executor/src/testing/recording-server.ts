// The executor's stand-ins are libs/testing's; these names stay for the specs written against them.
export { StandInServer as RecordingServer, eventually, type RecordedRequest, type StandInHandler as Responder } from '@pancha/testing';
