// The activator the wrapper uses. Until the environment pipeline is wired in, activation fails
// honestly: the container does not start and the user is told why.
import { FloxError } from '../errors.js';
import { formatEnvironmentRef } from '../pod/environment-ref.js';
import { describeContainer } from '../pod/request.js';
import type { Activator } from './types.js';

export const activate: Activator = async ({ request, containerId }) => {
  throw new FloxError(
    'activation',
    `environment ${formatEnvironmentRef(request.environment)} could not be activated for ${describeContainer(request, containerId)}: this build of flox-runtime has no environment support`,
  );
};
