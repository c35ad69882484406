export interface HealthResponse {
  status: 'ok';
  service: string;
  environment: string;
  timestamp: string;
}
