/** A one-step workflow whose runs complete at once and are never written again: for specs of the run reads. */
export const AT_REST_WORKFLOW = `
name: at-rest
version: 1.0.0
security: { actions: [task] }
steps:
  - id: only
    action: task
    with: { title: "only" }
`;
