export const text = "original message";
