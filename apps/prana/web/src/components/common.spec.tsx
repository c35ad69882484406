import { render, screen } from '@testing-library/react';
import { ApiError } from '../api';
import { ErrorState } from './common';

describe('ErrorState', () => {
  it('says a role refusal is about the role', () => {
    render(<ErrorState error={new ApiError(403, 'forbidden', 'needs view:karma', {})} what="karma" />);
    expect(screen.getByRole('alert').textContent).toContain('Your role does not allow this.');
  });

  it("says a restricted person's karma refusal is about their products, not their role", () => {
    const error = new ApiError(403, 'karma_outside_products', 'Karma keeps no products, so people restricted to products (alpha) may read only their own karma (viewer)', {});
    render(<ErrorState error={error} what="karma" />);
    const text = screen.getByRole('alert').textContent ?? '';
    expect(text).toContain('you may read your own karma only');
    expect(text).not.toContain('Your role does not allow this.');
  });
});
