import { budgetContract } from "./budget-contract.ts";
import { MemoryBudget } from "../../server/quota/memory-budget.ts";

budgetContract("MemoryBudget", {
  make: (clock) => new MemoryBudget({ clock }),
  cleanup: async () => {},
});
