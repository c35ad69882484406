import { useState, type ReactNode } from 'react';
import type { Session } from '../api';
import { useApp } from '../app-context';

/** The products a restricted person acts in, or undefined when people see every product (`'*'`, or an older BFF). */
export function restrictedProducts(session: Pick<Session, 'products'>): string[] | undefined {
  const products = session.products ?? ['*'];
  return products.includes('*') ? undefined : products;
}

export interface ProductField {
  /** What to add to the request body: `{ product }` for a restricted person once it is known, else nothing. */
  body: { product?: string };
  /** Before sending: false (and the field says why) when a restricted person has not chosen a product. */
  check: () => boolean;
  /** The field to render: nothing for people who see every product. */
  field: ReactNode;
}

/**
 * The product a run start or a task is for. Core takes a restricted person's only product when the request names
 * none, and refuses the request (422 naming `product`) when they have several, so the console names it: the only one,
 * shown; or a required choice among several. People who see every product get no field and send none, as before.
 */
export function useProductField(id: string): ProductField {
  const { session } = useApp();
  const products = restrictedProducts(session);
  const [chosen, setChosen] = useState('');
  const [error, setError] = useState<string>();
  if (!products) return { body: {}, check: () => true, field: null };
  const product = products.length === 1 ? products[0] : products.includes(chosen) ? chosen : undefined;
  const check = () => {
    if (product !== undefined) return true;
    setError(products.length === 0 ? 'You may act in no product.' : 'Choose a product.');
    return false;
  };
  const errorId = `${id}-err`;
  const errorNote = error && product === undefined && (
    <small id={errorId} className="field-error" role="alert">
      {error}
    </small>
  );
  const field =
    products.length === 1 ? (
      <p className="muted">
        For product <strong>{products[0]}</strong>
      </p>
    ) : (
      <div className="field">
        <label htmlFor={id}>
          Product<span aria-hidden="true"> *</span>
        </label>
        <select
          id={id}
          value={chosen}
          required
          aria-invalid={!!errorNote}
          aria-describedby={errorNote ? errorId : undefined}
          onChange={(e) => setChosen(e.target.value)}
        >
          <option value="">Choose…</option>
          {products.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        {errorNote}
      </div>
    );
  return { body: product === undefined ? {} : { product }, check, field };
}
